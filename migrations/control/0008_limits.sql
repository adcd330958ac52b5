-- The audit of per-room caps an operator set (PUT /api/admin/rooms/:room/limits): one row
-- per change, with the cap before and after.
CREATE TABLE IF NOT EXISTS limits (
  room TEXT NOT NULL,
  at INTEGER NOT NULL,
  who TEXT NOT NULL,
  before INTEGER NOT NULL,
  after INTEGER NOT NULL
);
