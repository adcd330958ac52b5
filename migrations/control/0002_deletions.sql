-- The audit of operator deletions (DELETE /api/admin/messages/:id): one row per message,
-- so a retried deletion is recorded once. IF NOT EXISTS, like 0001: an object whose
-- _migrations record is missing runs every migration again.
CREATE TABLE IF NOT EXISTS deletions (room TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, at INTEGER NOT NULL, who TEXT NOT NULL, PRIMARY KEY (room, id));
