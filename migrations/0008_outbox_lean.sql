-- The outbox stays small (rows leave as soon as KV takes them), so scanning it is cheap;
-- its index on next_at cost two index rows written per message (insert, then delete).
DROP INDEX outbox_next_at;
