-- Retention (ROOM_RETENTION_DAYS) finds the oldest messages by creation time, not by
-- seq: a healed or merged message can be older than messages logged before it.
CREATE INDEX messages_created_at ON messages (created_at);
