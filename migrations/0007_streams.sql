-- AI replies being written (streaming), so a restarted room or a late viewer has the
-- text so far (written at most once a second per stream; the bot resends the rest).
-- A row is deleted when its reply lands, or when another bot's stream replaces it.
CREATE TABLE streams (
  id TEXT PRIMARY KEY,
  reply_to TEXT NOT NULL,
  bot_id TEXT NOT NULL,
  author TEXT NOT NULL,
  text TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('streaming', 'stopping', 'interrupted'))
);
-- A reply the bot finished early because someone pressed Stop: its text is what was written until then.
ALTER TABLE messages ADD COLUMN stopped INTEGER NOT NULL DEFAULT 0;
