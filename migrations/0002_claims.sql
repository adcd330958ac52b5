-- Bot leases on human messages; a row exists only while a bot holds (or held) one.
CREATE TABLE claims (
  message_id TEXT PRIMARY KEY REFERENCES messages (id),
  bot_id TEXT NOT NULL,
  lease_until INTEGER NOT NULL
);
