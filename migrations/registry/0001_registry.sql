-- One shard of the list of rooms in do mode, and this shard's copy of the flag: the flag in
-- force when it last asked the Control object, and a flip in progress that it was told of.
CREATE TABLE do_rooms (name TEXT PRIMARY KEY, since INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE flag_state (id INTEGER PRIMARY KEY CHECK (id = 1), flags TEXT NOT NULL, pending TEXT);
