-- Operator deletion keeps the row (and its id, so nothing can reuse or heal it) as a
-- tombstone: text and author emptied, `deleted_at` set. Lists and the mirror skip it.
ALTER TABLE messages ADD COLUMN deleted_at INTEGER;
