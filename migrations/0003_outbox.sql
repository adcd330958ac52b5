-- KV writes owed by the room (do mode): `comment:<id>` records and the `room:<name>`
-- marker. A row is written in the same transaction as the change it reports, so an
-- acknowledged change always reaches KV, however often the put fails or the room restarts.
-- `version` grows on every re-queue of a key, so a finished put only deletes the row it wrote.
CREATE TABLE outbox (
  key TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  queued_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_next_at ON outbox (next_at);
