-- The Control object's tables. IF NOT EXISTS: objects created before the migration
-- runner already have them (and no _migrations table), and this records them as version 1.
CREATE TABLE IF NOT EXISTS flags (id INTEGER PRIMARY KEY CHECK (id = 1), doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (at INTEGER NOT NULL, who TEXT NOT NULL, before TEXT NOT NULL, after TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (mode TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (mode, name));
CREATE TABLE IF NOT EXISTS timeline (minute INTEGER NOT NULL, mode TEXT NOT NULL, requested INTEGER NOT NULL, readded INTEGER NOT NULL, PRIMARY KEY (minute, mode));
CREATE TABLE IF NOT EXISTS do_rooms (name TEXT PRIMARY KEY, since INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS reserved_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pending_flip (id INTEGER PRIMARY KEY CHECK (id = 1), flags TEXT NOT NULL);
