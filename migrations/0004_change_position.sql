-- Every change to a room (a new message or a status change) takes the next position,
-- so `since=<position>` returns the current state of everything that changed after it.
-- `seq` stays the log order; `pos` is where the message last changed.
ALTER TABLE messages ADD COLUMN pos INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET pos = seq;
CREATE INDEX messages_pos ON messages (pos);
