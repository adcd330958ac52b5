-- The audit of operator purges (POST /api/admin/rooms/:room/purge): one row per purge, with
-- what it was asked to remove and how many messages went. IF NOT EXISTS, like 0002.
CREATE TABLE IF NOT EXISTS purges (
  room TEXT NOT NULL,
  at INTEGER NOT NULL,
  who TEXT NOT NULL,
  before INTEGER,
  tombstones INTEGER NOT NULL,
  removed INTEGER NOT NULL
);
