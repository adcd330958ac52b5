-- The outbox, leaner: each message adds a row and deletes it once KV took the record, so
-- every index is paid twice per message. Keyed by `key` alone (WITHOUT ROWID: the primary
-- key is the table, no second b-tree), and no index on next_at (rows leave as soon as KV
-- takes them, so the table stays small and a scan is cheap): one b-tree per row, not three.
CREATE TABLE outbox_lean (
  key TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  queued_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO outbox_lean (key, version, queued_at, attempts, next_at) SELECT key, version, queued_at, attempts, next_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_lean RENAME TO outbox;
