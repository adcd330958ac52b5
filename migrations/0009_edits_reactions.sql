-- Edits: a message keeps the hash of its author's edit key, its version (1 until edited) and
-- when it was last edited; every text it had before lives in message_versions.
ALTER TABLE messages ADD COLUMN edit_key_hash TEXT;
ALTER TABLE messages ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
CREATE TABLE message_versions (
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  text TEXT NOT NULL,
  replaced_at INTEGER NOT NULL,
  PRIMARY KEY (id, version)
) WITHOUT ROWID;
-- Reactions: one row per (message, emoji, reactor key hash), so a toggle is idempotent; the
-- counts lists show are kept with the message (JSON {emoji: count}).
ALTER TABLE messages ADD COLUMN reactions TEXT;
CREATE TABLE reactions (
  message_id TEXT NOT NULL,
  emoji TEXT NOT NULL,
  reactor TEXT NOT NULL,
  PRIMARY KEY (message_id, emoji, reactor)
) WITHOUT ROWID;
