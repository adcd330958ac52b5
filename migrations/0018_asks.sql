-- Who posted a human message (a hash of the poster's client key; null for token holders and
-- older rows): the bot's queue takes senders in turn and caps each one's open prompts.
ALTER TABLE messages ADD COLUMN sender TEXT;
-- Regenerate: on a human message, the request id of its latest "ask again" (a repeated request
-- is one regenerate); on an AI reply, the id of the reply post whose text it now holds (a bot's
-- retried post lands once).
ALTER TABLE messages ADD COLUMN regen_request TEXT;
ALTER TABLE messages ADD COLUMN reply_id TEXT;
