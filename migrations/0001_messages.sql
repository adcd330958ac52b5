-- The room log: one row per message, ordered by seq, unique on the message id.
CREATE TABLE messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('human', 'ai')),
  author TEXT NOT NULL,
  text TEXT NOT NULL,
  reply_to TEXT,
  status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'complete', 'failed')),
  created_at INTEGER NOT NULL,
  error TEXT
);
CREATE INDEX messages_pending ON messages (kind, status) WHERE kind = 'human';
CREATE INDEX messages_reply_to ON messages (reply_to) WHERE reply_to IS NOT NULL;

-- Room bookkeeping: the flag version last reconciled, mirror state.
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
