-- The log at fewer SQLite rows written per change: every b-tree entry a write touches is a
-- billed row. One table holds what a message is (its lease, earlier texts and reactors
-- included), with two indexes every message pays for besides the rowid (`seq`): the id and
-- the change position (and `reply_to` for AI replies).
-- No AUTOINCREMENT (its sqlite_sequence row was one more write per message): the room
-- assigns `seq` itself and never reuses one (meta `seqFloor` keeps a removed newest seq).
-- `kv_pos`: the position of the latest change that owes the message's KV record; the
-- outbox is a watermark over it (carried by each change's row, `kv_done`, and saved in meta
-- `cursors` by a flip to kv), plus the `outbox` table for the room marker and retries.
-- `open_from` (likewise): no unfinished human message has a lower seq.
CREATE TABLE messages_lean (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('human', 'ai')),
  author TEXT NOT NULL,
  text TEXT NOT NULL,
  reply_to TEXT,
  status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'complete', 'failed')),
  created_at INTEGER NOT NULL,
  error TEXT,
  pos INTEGER NOT NULL DEFAULT 0,
  deleted_at INTEGER,
  stopped INTEGER NOT NULL DEFAULT 0,
  edit_key_hash TEXT,
  version INTEGER NOT NULL DEFAULT 1,
  edited_at INTEGER,
  reactions TEXT,
  bot_id TEXT,
  lease_until INTEGER,
  kv_pos INTEGER NOT NULL DEFAULT 0,
  -- The outbox watermark and the open-message scan's start when this row last changed: the
  -- latest change's row tells a waking room both, so moving them writes no row of its own.
  kv_done INTEGER NOT NULL DEFAULT 0,
  open_from INTEGER NOT NULL DEFAULT 0,
  -- Last, so reading the columns lists show never touches them: JSON {emoji: [reactor key hash]}
  -- and JSON [{version, text, replacedAt}] (every earlier text, oldest first).
  reactors TEXT,
  history TEXT
);
INSERT INTO messages_lean (seq, id, kind, author, text, reply_to, status, created_at, error, pos, deleted_at, stopped,
  edit_key_hash, version, edited_at, reactions, bot_id, lease_until, reactors, history)
SELECT m.seq, m.id, m.kind, m.author, m.text, m.reply_to, m.status, m.created_at, m.error, m.pos, m.deleted_at,
  m.stopped, m.edit_key_hash, m.version, m.edited_at, m.reactions, c.bot_id, c.lease_until,
  (SELECT NULLIF(json_group_object(r.emoji, json(r.reactors)), '{}') FROM (
    SELECT emoji, json_group_array(reactor) AS reactors FROM reactions WHERE message_id = m.id GROUP BY emoji) r),
  (SELECT NULLIF(json_group_array(json_object('version', v.version, 'text', v.text, 'replacedAt', v.replaced_at)), '[]')
    FROM (SELECT version, text, replaced_at FROM message_versions WHERE id = m.id ORDER BY version) v)
FROM messages m LEFT JOIN claims c ON c.message_id = m.id;

-- Every change so far either reached KV or is still a row of `outbox`: the watermark starts at
-- the top.
INSERT INTO meta (key, value) VALUES ('cursors', json_object(
    'kvPos', (SELECT COALESCE(MAX(pos), 0) FROM messages),
    'openFrom', (SELECT COALESCE(MIN(seq), (SELECT COALESCE(MAX(seq), 0) + 1 FROM messages))
      FROM messages WHERE kind = 'human' AND status IN ('pending', 'processing'))))
  ON CONFLICT (key) DO UPDATE SET value = excluded.value;
INSERT INTO meta (key, value) SELECT 'seqFloor', seq FROM sqlite_sequence WHERE name = 'messages'
  ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- claims first: its foreign key on messages (id) would refuse dropping the log under it.
DROP TABLE claims;
DROP TABLE messages;
DROP TABLE message_versions;
DROP TABLE reactions;
ALTER TABLE messages_lean RENAME TO messages;
CREATE INDEX messages_pos ON messages (pos);
CREATE INDEX messages_reply_to ON messages (reply_to) WHERE reply_to IS NOT NULL;

-- Retention by seq ranges instead of an index on created_at: a mark starts a range of seqs
-- (a new one every 64 messages), with the time its first seq was logged (no earlier seq was
-- logged later) and the oldest created_at in the range (a healed or merged message is logged
-- late but old). Retention and the mirror read the ranges that can hold what they look for.
CREATE TABLE retention_marks (
  first_seq INTEGER PRIMARY KEY,
  started_at INTEGER NOT NULL,
  oldest_created_at INTEGER
);
-- The messages logged before this migration: ranges of 64 seqs; only the first is known to
-- start before every later one was logged, so the others say "logged by now".
INSERT INTO retention_marks (first_seq, started_at, oldest_created_at)
SELECT MIN(seq), CASE WHEN MIN(seq) = (SELECT MIN(seq) FROM messages) THEN 0
    ELSE (CAST(strftime('%s', 'now') AS INTEGER) + 1) * 1000 END, MIN(created_at)
FROM messages GROUP BY seq / 64;
