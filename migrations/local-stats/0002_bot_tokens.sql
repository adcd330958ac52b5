-- Bot points (type "bot", mode: the bot's name, kind: seen/answered/failed) carry the tokens a
-- reply cost, as Analytics Engine's double8 and double9 do.
ALTER TABLE buckets ADD COLUMN tokens_in REAL NOT NULL DEFAULT 0;
ALTER TABLE buckets ADD COLUMN tokens_out REAL NOT NULL DEFAULT 0;
