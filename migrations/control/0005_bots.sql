-- Bots as operator-managed identities: one row per bot with the SHA-256 hash of its token
-- (the token itself is shown once and never stored), and each room's default bot.
-- rooms: a JSON array of room names, or "all".
CREATE TABLE IF NOT EXISTS bots (
  name TEXT PRIMARY KEY,
  model TEXT NOT NULL,
  rooms TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  rotated_at INTEGER
);
CREATE TABLE IF NOT EXISTS room_default_bots (room TEXT PRIMARY KEY, bot TEXT NOT NULL);
