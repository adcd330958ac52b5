// All SQL of a room, and the state its parts share. Synchronous, so every method that
// changes more than one row is atomic inside the Durable Object; a change that owes a KV
// record marks it owed in its own row (`kv_pos`), in the same statement.
import { isClaimable } from "../shared/leases";
import type { Message, MessageStatus, MessageVersion } from "../shared/message";
import { applyMigrations, hasSchema, type Migration } from "../storage/migrations";
import type { Usage } from "../storage/usage";
import { roomLimits, type RoomLimits } from "../limits/retention";
import m0001 from "../../migrations/0001_messages.sql";
import m0002 from "../../migrations/0002_claims.sql";
import m0003 from "../../migrations/0003_outbox.sql";
import m0004 from "../../migrations/0004_change_position.sql";
import m0005 from "../../migrations/0005_created_at.sql";
import m0006 from "../../migrations/0006_tombstones.sql";
import m0007 from "../../migrations/0007_streams.sql";
import m0008 from "../../migrations/0008_outbox_lean.sql";
import m0009 from "../../migrations/0009_edits_reactions.sql";
import m0010 from "../../migrations/0010_lean_rows.sql";
import m0018 from "../../migrations/0018_asks.sql";
import { inTurns } from "../shared/fair-queue";

// ---- the schema ----

// The Room's schema: migrations/NNNN_name.sql, applied by the shared runner (src/storage/migrations.ts).
export const MIGRATIONS: Migration[] = [
  { version: 1, name: "messages", sql: m0001 },
  { version: 2, name: "claims", sql: m0002 },
  { version: 3, name: "outbox", sql: m0003 },
  { version: 4, name: "change_position", sql: m0004 },
  { version: 5, name: "created_at", sql: m0005 },
  { version: 6, name: "tombstones", sql: m0006 },
  { version: 7, name: "streams", sql: m0007 },
  { version: 8, name: "outbox_lean", sql: m0008 },
  { version: 9, name: "edits_reactions", sql: m0009 },
  { version: 10, name: "lean_rows", sql: m0010 },
  { version: 18, name: "asks", sql: m0018 },
];

// ---- the log: rows in, Messages out ----

type Row = {
  seq: number;
  pos: number;
  id: string;
  kind: "human" | "ai";
  author: string;
  text: string;
  reply_to: string | null;
  status: MessageStatus;
  created_at: number;
  error: string | null;
  stopped: number;
  bot_id: string | null;
  lease_until: number | null;
  deleted_at: number | null;
  version: number;
  edited_at: number | null;
  reactions: string | null;
};

// The lease is in the message's row (migrations/0010_lean_rows.sql): no join, and a claim writes one row.
const SELECT = `SELECT m.seq, m.pos, m.id, m.kind, m.author, m.text, m.reply_to, m.status, m.created_at, m.error,
  m.stopped, m.bot_id, m.lease_until, m.deleted_at, m.version, m.edited_at, m.reactions
  FROM messages m`;

/** The bot's turns count at least this many of the room's newest prompts (and every one since the oldest open). */
const RECENT_PROMPTS = 100;

/** Who a prompt counts against in the bot's turns: its sender, or (older rows, token holders) its author's name. */
const SENDER_KEY = `COALESCE(m.sender, 'author:' || m.author)`;

/** Rows lists show: a tombstone (an operator deletion) is left out. */
const SHOWN = `m.deleted_at IS NULL`;

// The hot queries, exported so a test can check their plans (test/worker/query-plans.test.ts).
/** One message by id: the id index. */
export const GET_SQL = `${SELECT} WHERE m.id = ?`;
/** The newest page: the rowid from its end. */
export const RECENT_SQL = `${SELECT} WHERE ${SHOWN} ORDER BY m.seq DESC LIMIT ?`;
/** One scroll-back page: a rowid range, no scan. */
export const PAGE_BEFORE_SQL = `${SELECT} WHERE m.seq < ? AND ${SHOWN} ORDER BY m.seq DESC LIMIT ?`;
/** Catch-up (`since`): a range of the position index. */
export const AFTER_SQL = `${SELECT} WHERE m.pos > ? ORDER BY m.pos ASC LIMIT ?`;
/** The mirror's newest by creation time, among the seqs that can hold them (a rowid range; see newest()). */
export const NEWEST_SQL = `${SELECT} WHERE m.seq >= ? AND ${SHOWN} ORDER BY m.created_at DESC, m.seq DESC LIMIT ?`;
/** Unfinished human messages from `openFrom` on, with whose turn each is in (the bot's queue): a rowid range. */
export const OPEN_SQL = `SELECT ${SENDER_KEY} AS sender_key, ${SELECT.slice("SELECT ".length)}
  WHERE m.seq >= ? AND m.kind = 'human' AND m.status IN ('pending', 'processing') AND ${SHOWN} ORDER BY m.seq LIMIT ?`;
/** What a record owed to KV since the watermark ?1 is: a range of the position index (kv_pos <= pos). */
const OWED_WHERE = `m.pos > ?1 AND m.kv_pos > ?1`;
/** The owed messages whole: the flush writes their records without reading them again. */
export const OWED_SQL = `SELECT m.kv_pos, ${SELECT.slice("SELECT ".length)} WHERE ${OWED_WHERE} ORDER BY m.pos`;
/** The replaced text (?5, one version as JSON) joins the row's history in the statement that replaces it. */
const APPEND_HISTORY = `json_insert(COALESCE(history, '[]'), '$[#]', json(?5))`;
/** Retention: the seq range of one mark, past the cutoff. */
export const EXPIRED_SQL = `SELECT m.id, m.seq FROM messages m
  WHERE m.seq >= ? AND m.seq < ? AND m.created_at < ? AND m.pos < ?
    AND NOT (m.status = 'processing' AND COALESCE(m.lease_until, 0) > ?)
  ORDER BY m.seq LIMIT ?`;

/** What a removal takes: messages created before `before` (epoch ms), and/or every tombstone. */
export type Removal = { before?: number; tombstones?: boolean };

/** A new retention mark every this many seqs (one row written per that many messages). */
export const MARK_SPAN = 64;

type Mark = { first: number; oldest: number | null };

/** A record owed to KV: its message as the change at position `at` left it. */
export type OwedRecord = { id: string; at: number; message: Message };

export class RoomLog {
  /** The room's newest change position, read once on first use, then kept. */
  private position: number | null = null;
  /** The newest seq ever given (a removed one included), read once on first use, then kept. */
  private seqTop: number | null = null;
  /**
   * How many live messages (not tombstones) the log holds, counted once on first use, then
   * kept: the cap is checked on every post, and a deletion must free its slot at once.
   */
  private size: number | null = null;
  /** The newest retention mark (the range new messages join), read on first use. */
  private mark: Mark | null | undefined = undefined;
  /**
   * What the room must not forget between wakes but need not write on its own: the outbox
   * watermark (every record change up to `kvDone` reached KV) and `openFrom` (no unfinished human
   * message has a lower seq; an insert adds one at the top, a regenerate lowers it). Each change's row carries them
   * (`kv_done`, `open_from`: no extra row); on wake they are read from the latest change's row,
   * or from meta `cursors` where a flip to kv saved them.
   */
  private saved: Cursors | null = null;
  /**
   * The records owed by inserts since watermark `from`, when nothing else changed the log since: the flush right
   * after an answer takes them from here instead of querying the rows it just wrote. Any other change drops it
   * (the next flush queries, and starts it again once it has written everything).
   */
  private tail: { from: number; upTo: number; owed: OwedRecord[] } | null = null;

  constructor(
    private readonly sql: SqlStorage,
    private readonly room: () => string,
    private readonly meta: Meta,
  ) {}

  /** What this log keeps in memory, and how to put it back (a rolled-back transaction). */
  save(): () => void {
    const { position, seqTop, size, mark, saved } = this;
    const [markCopy, savedCopy] = [mark ? { ...mark } : mark, saved ? { ...saved } : saved];
    return () => {
      Object.assign(this, { position, seqTop, size, mark: markCopy, saved: savedCopy, tail: null });
    };
  }

  /** The position of the room's latest change (0 when nothing happened yet). */
  lastPos(): number {
    this.position ??= this.sql.exec<{ p: number | null }>(`SELECT MAX(pos) AS p FROM messages`).one().p ?? 0;
    return this.position;
  }

  /** The position of a change other than an insert: the owed records are queried again. */
  private nextPos(): number {
    this.tail = null;
    this.position = this.lastPos() + 1;
    return this.position;
  }

  /** The outbox watermark and where the open-message scan starts, read on first use (see `saved`). */
  cursors(): Cursors {
    if (!this.saved) {
      const meta = readCursors(this.meta);
      // The latest few changes: a statement that moved a row without carrying them (it should not) costs nothing.
      // The watermark only grows; `openFrom` is the latest carried one (a regenerate reopens an older message).
      const row = this.sql
        .exec<{ kv_done: number | null; open_from: number | null; pos: number | null }>(
          `WITH latest AS (SELECT kv_done, open_from, pos FROM messages ORDER BY pos DESC LIMIT 16)
           SELECT MAX(kv_done) AS kv_done, MAX(pos) AS pos,
             (SELECT open_from FROM latest WHERE open_from > 0 ORDER BY pos DESC LIMIT 1) AS open_from
           FROM latest`,
        )
        .one();
      const kvDone = Math.max(meta.kvPos, row.kv_done ?? 0);
      this.saved = {
        kvDone,
        openFrom: row.open_from ?? meta.openFrom,
        // Records owed up to the latest change before this wake may already be in KV.
        recheckUpTo: Math.max(kvDone, row.pos ?? 0),
      };
    }
    return this.saved;
  }

  /** The cursors as the bindings a change's row carries them with. */
  private carried(): [number, number] {
    const { kvDone, openFrom } = this.cursors();
    return [kvDone, openFrom];
  }

  private toMessage(row: Row): Message {
    const message: Message = {
      id: row.id,
      room: this.room(),
      kind: row.kind,
      author: row.author,
      text: row.text,
      status: row.status,
      createdAt: row.created_at,
      seq: row.seq,
      pos: row.pos,
    };
    if (row.reply_to) message.replyTo = row.reply_to;
    if (row.error) message.error = row.error;
    if (row.stopped) message.stopped = true;
    if (row.version > 1) {
      message.version = row.version;
      if (row.edited_at !== null) message.editedAt = row.edited_at;
    }
    if (row.reactions && row.reactions !== "{}") message.reactions = JSON.parse(row.reactions) as Message["reactions"];
    if (row.deleted_at !== null) {
      message.deleted = true;
      message.deletedAt = row.deleted_at;
    }
    if (row.status === "processing" && row.bot_id) {
      message.claimedBy = row.bot_id;
      message.leaseUntil = row.lease_until ?? 0;
    }
    return message;
  }

  get(id: string): Message | null {
    const row = this.sql.exec<Row>(GET_SQL, id).toArray()[0];
    return row ? this.toMessage(row) : null;
  }

  /** The logged messages among `ids`, in one query (the outbox flush reads a batch at a time). */
  getMany(ids: string[]): Map<string, Message> {
    const rows = this.sql
      .exec<Row>(`${SELECT} WHERE m.id IN (SELECT value FROM json_each(?))`, JSON.stringify(ids))
      .toArray();
    return new Map(rows.map((row) => [row.id, this.toMessage(row)]));
  }

  /** The newest seq ever given: never reused, even after the message that had it was removed. */
  private lastSeqGiven(): number {
    this.seqTop ??= Math.max(this.lastSeq(), Number(this.meta.get("seqFloor") ?? 0));
    return this.seqTop;
  }

  /**
   * Inserts unless the id is already logged; returns the logged message either way. `owed`: its
   * KV record is owed (the outbox watermark finds it by `kv_pos`). Three rows: the row, its id and
   * position entries; a known id writes none. `sender`: who posted it, for the bot's turns.
   */
  insert(
    message: Message,
    editKeyHash: string | null = null,
    owed = false,
    sender: string | null = null,
  ): { message: Message; created: boolean } {
    // One statement checks and inserts: no lookup first on the hot path (a known id is the rare case).
    const pos = this.lastPos() + 1;
    const seq = this.lastSeqGiven() + 1;
    const inserted = this.sql.exec(
      `INSERT INTO messages (seq, id, kind, author, text, reply_to, status, created_at, error, stopped, pos, kv_pos,
         edit_key_hash, sender, kv_done, open_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO NOTHING`,
      seq,
      message.id,
      message.kind,
      message.author,
      message.text,
      message.replyTo ?? null,
      message.status,
      message.createdAt,
      message.error ?? null,
      message.stopped ? 1 : 0,
      pos,
      owed ? pos : 0,
      editKeyHash,
      sender,
      ...this.carried(),
    ).rowsWritten;
    if (!inserted) return { message: this.get(message.id)!, created: false };
    this.position = pos;
    this.seqTop = seq;
    if (this.size !== null) this.size++;
    this.marked(seq, message.createdAt);
    // The row as a read would give it back, built from what was written: no query on the hot path, and the
    // flush's owed record is the same message (fields and their order: a restart compares records as text).
    const logged = this.toMessage(this.rowOf(message, seq, pos));
    const { tail } = this;
    if (tail?.upTo === pos - 1) {
      tail.upTo = pos;
      if (owed) tail.owed.push({ id: logged.id, at: pos, message: logged });
    } else this.tail = null;
    return { message: logged, created: true };
  }

  /** The row an insert of `message` writes, as a read gives it back. */
  private rowOf(message: Message, seq: number, pos: number): Row {
    return {
      seq,
      pos,
      id: message.id,
      kind: message.kind,
      author: message.author,
      text: message.text,
      reply_to: message.replyTo ?? null,
      status: message.status,
      created_at: message.createdAt,
      error: message.error ?? null,
      stopped: message.stopped ? 1 : 0,
      bot_id: null,
      lease_until: null,
      deleted_at: null,
      version: 1,
      edited_at: null,
      reactions: null,
    };
  }

  /** Keeps the retention marks true for a message just logged: a row per MARK_SPAN messages, or for an old one. */
  private marked(seq: number, createdAt: number): void {
    if (this.mark === undefined) {
      this.mark =
        this.sql
          .exec<{ first: number; oldest: number | null }>(
            `SELECT first_seq AS first, oldest_created_at AS oldest FROM retention_marks
             ORDER BY first_seq DESC LIMIT 1`,
          )
          .toArray()[0] ?? null;
    }
    if (!this.mark || seq - this.mark.first >= MARK_SPAN) {
      this.sql.exec(
        `INSERT INTO retention_marks (first_seq, started_at, oldest_created_at) VALUES (?, ?, ?)`,
        seq,
        Date.now(),
        createdAt,
      );
      this.mark = { first: seq, oldest: createdAt };
    } else if (this.mark.oldest === null || createdAt < this.mark.oldest) {
      // A healed or merged message: logged now, created long ago.
      this.sql.exec(
        `UPDATE retention_marks SET oldest_created_at = MIN(COALESCE(oldest_created_at, ?1), ?1) WHERE first_seq = ?2`,
        createdAt,
        this.mark.first,
      );
      this.mark.oldest = createdAt;
    }
  }

  /** A new status at the next position (the lease goes unless it is `processing`): the row and its position entry. */
  setStatus(id: string, status: MessageStatus, error: string | null = null, owed = false): void {
    const pos = this.nextPos();
    this.sql.exec(
      `UPDATE messages SET status = ?1, error = ?2, pos = ?3, kv_pos = IIF(?4, ?3, kv_pos),
         bot_id = IIF(?1 = 'processing', bot_id, NULL), lease_until = IIF(?1 = 'processing', lease_until, NULL),
         kv_done = ?6, open_from = ?7
       WHERE id = ?5`,
      status,
      error,
      pos,
      owed ? 1 : 0,
      id,
      ...this.carried(),
    );
  }

  /** A lease (or its renewal); false, and nothing written, when the holder renews to the same time. */
  setClaim(id: string, botId: string, leaseUntil: number): boolean {
    const pos = this.lastPos() + 1;
    const written = this.sql.exec(
      `UPDATE messages SET status = 'processing', bot_id = ?1, lease_until = ?2, pos = ?3, kv_done = ?5, open_from = ?6
       WHERE id = ?4 AND NOT (status = 'processing' AND bot_id IS ?1 AND lease_until IS ?2)`,
      botId,
      leaseUntil,
      pos,
      id,
      ...this.carried(),
    ).rowsWritten;
    if (written) {
      this.position = pos;
      this.tail = null;
    }
    return written > 0;
  }

  /**
   * An operator deletion: the row stays (its id can never be posted, healed or merged
   * again) with text and author emptied, the claim dropped, at the room's next position.
   * A message the log never had is logged as a tombstone straight away.
   */
  tombstone(message: Message, deletedAt: number, owed = false): Message {
    const logged = this.get(message.id);
    const inserted = !logged && this.insert(message).created;
    this.tail = null;
    // The row stops counting against the cap (a never-logged one was counted by its insert just now).
    if (this.size !== null && (inserted || (logged && !logged.deleted))) this.size--;
    this.sql.exec(
      `UPDATE messages SET text = '', author = '', deleted_at = ?1, pos = ?2, kv_pos = IIF(?3, ?2, kv_pos),
         bot_id = NULL, lease_until = NULL, kv_done = ?5, open_from = ?6
       WHERE id = ?4`,
      deletedAt,
      inserted ? this.lastPos() : this.nextPos(),
      owed ? 1 : 0,
      message.id,
      ...this.carried(),
    );
    return this.get(message.id)!;
  }

  /** The hash of the key its author may edit it with (null: nobody may). */
  editKeyHash(id: string): string | null {
    return (
      this.sql.exec<{ h: string | null }>(`SELECT edit_key_hash AS h FROM messages WHERE id = ?`, id).toArray()[0]?.h ??
      null
    );
  }

  /**
   * A new text: the old one joins the row's history, the message takes the next version and
   * position, and its KV record is owed. One row and its position entry.
   */
  edit(current: Message, text: string, now: number): void {
    const version = current.version ?? 1;
    const pos = this.nextPos();
    this.sql.exec(
      `UPDATE messages SET text = ?1, version = ?2, edited_at = ?3, pos = ?4, kv_pos = ?4, history = ${APPEND_HISTORY},
         kv_done = ?7, open_from = ?8
       WHERE id = ?6`,
      text,
      version + 1,
      now,
      pos,
      JSON.stringify({ version, text: current.text, replacedAt: now } satisfies MessageVersion),
      current.id,
      ...this.carried(),
    );
  }

  /** Every earlier text of a message, oldest first. */
  versions(id: string): MessageVersion[] {
    const row = this.sql.exec<{ h: string | null }>(`SELECT history AS h FROM messages WHERE id = ?`, id).toArray()[0];
    return row?.h ? (JSON.parse(row.h) as MessageVersion[]) : [];
  }

  /**
   * Adds (or takes back) one reactor's emoji: true when that changed anything, and then the
   * message's reactors, counts and position move (its row and position entry); the same toggle
   * again writes nothing.
   */
  react(id: string, emoji: string, reactor: string, on: boolean): boolean {
    const row = this.sql.exec<{ r: string | null }>(`SELECT reactors AS r FROM messages WHERE id = ?`, id).toArray()[0];
    if (!row) return false;
    const reactors = (row.r ? JSON.parse(row.r) : {}) as Record<string, string[]>;
    const who = reactors[emoji] ?? [];
    if (who.includes(reactor) === on) return false;
    reactors[emoji] = on ? [...who, reactor] : who.filter((r) => r !== reactor);
    if (!reactors[emoji].length) delete reactors[emoji];
    const counts = Object.fromEntries(Object.entries(reactors).map(([e, list]) => [e, list.length]));
    this.sql.exec(
      `UPDATE messages SET reactors = ?1, reactions = ?2, pos = ?3, kv_done = ?5, open_from = ?6 WHERE id = ?4`,
      JSON.stringify(reactors),
      JSON.stringify(counts),
      this.nextPos(),
      id,
      ...this.carried(),
    );
    return true;
  }

  /** The newest `limit` messages, oldest first; tombstones are left out. */
  recent(limit: number): Message[] {
    const rows = this.sql.exec<Row>(RECENT_SQL, limit).toArray();
    return rows.reverse().map((row) => this.toMessage(row));
  }

  /**
   * The `limit` newest messages by when they were written, oldest first: what the kv path's list
   * should hold. Not by `seq`: a message merged from a kv list or healed is logged late but old,
   * and must not take a newer message's place in `cache:<room>`. Without an index on created_at:
   * the newest `limit` by seq are all created at or after `c`, so the answer is; and a message
   * created at or after `c` was logged after the last mark started before `c`.
   */
  newest(limit: number): Message[] {
    const latest = this.sql
      .exec<{ c: number }>(`SELECT created_at AS c FROM messages m WHERE ${SHOWN} ORDER BY seq DESC LIMIT ?`, limit)
      .toArray();
    const c = latest.length < limit ? Number.NEGATIVE_INFINITY : Math.min(...latest.map((row) => row.c));
    const from = Number.isFinite(c)
      ? (this.sql
          .exec<{ s: number | null }>(`SELECT MAX(first_seq) AS s FROM retention_marks WHERE started_at < ?`, c)
          .one().s ?? 0)
      : 0;
    const rows = this.sql.exec<Row>(NEWEST_SQL, from, limit).toArray();
    return rows.reverse().map((row) => this.toMessage(row));
  }

  /**
   * Scroll-back: the `limit` messages logged just before `seq`, oldest first, and whether older
   * ones remain. By `seq` (the log order, fixed at insert) and not `pos` (which moves on every
   * status change), so a page never shifts under a reader. A range on the rowid: the cost does
   * not grow with the log.
   */
  before(seq: number, limit: number): { messages: Message[]; more: boolean } {
    const rows = this.sql.exec<Row>(PAGE_BEFORE_SQL, seq, limit).toArray();
    const oldest = rows.at(-1)?.seq;
    const more =
      oldest !== undefined &&
      this.sql.exec(`SELECT 1 FROM messages m WHERE m.seq < ? AND ${SHOWN} LIMIT 1`, oldest).toArray().length > 0;
    return { messages: rows.reverse().map((row) => this.toMessage(row)), more };
  }

  /**
   * Catch-up: the current state of the first `limit` messages changed after position `since`,
   * in change order. A message deleted since comes as its tombstone, so the client removes it.
   */
  after(since: number, limit: number): Message[] {
    return this.sql
      .exec<Row>(AFTER_SQL, since, limit)
      .toArray()
      .map((row) => this.toMessage(row));
  }

  /**
   * Human messages still pending or processing, oldest first, at most `limit`: read from the
   * lowest seq one may have (no index on status: a message would pay for its entry twice).
   */
  private openRows(limit: number): (Row & { sender_key: string })[] {
    const cursors = this.cursors();
    const rows = this.sql.exec<Row & { sender_key: string }>(OPEN_SQL, cursors.openFrom, limit).toArray();
    // Kept in memory; the next change's row carries it.
    cursors.openFrom = rows[0]?.seq ?? this.lastSeqGiven() + 1;
    return rows;
  }

  /** Ids of human messages still pending or processing, oldest first. */
  unfinishedHumanIds(limit: number): string[] {
    return this.openRows(limit).map((row) => row.id);
  }

  /**
   * Human messages a bot may claim now, senders in turn (shared/fair-queue.ts): turns count
   * the room's recent prompts, answered ones too, so a sender just served waits behind one who
   * was not. (The claim rule itself: shared/leases.ts.)
   */
  claimable(now: number): Message[] {
    // The query only narrows to candidates; isClaimable decides.
    const open = this.openRows(1000);
    if (!open.length) return [];
    // A range of the rowid: the room's last RECENT_PROMPTS prompts, or from the oldest open one if older.
    const lastFew =
      this.sql
        .exec<{ seq: number }>(
          `SELECT m.seq FROM messages m WHERE m.kind = 'human' ORDER BY m.seq DESC LIMIT 1 OFFSET ?`,
          RECENT_PROMPTS - 1,
        )
        .toArray()[0]?.seq ?? 0;
    const recent = this.sql
      .exec<{ seq: number; sender: string }>(
        `SELECT m.seq, ${SENDER_KEY} AS sender FROM messages m
         WHERE m.seq >= ? AND m.kind = 'human' AND ${SHOWN} ORDER BY m.seq LIMIT 2000`,
        Math.min(open[0]!.seq, lastFew),
      )
      .toArray();
    return inTurns(
      open.map((row) => ({ row, seq: row.seq, sender: row.sender_key })),
      recent,
    )
      .map(({ row }) => this.toMessage(row))
      .filter((message) => isClaimable(message, now))
      .slice(0, 200);
  }

  /** Prompts of `sender` still waiting for (or getting) an answer: what BOT_QUEUE_PER_SENDER caps. */
  openPromptsOf(sender: string): number {
    return this.sql
      .exec<{ n: number }>(
        `SELECT COUNT(*) AS n FROM messages m WHERE m.seq >= ? AND m.kind = 'human'
           AND m.status IN ('pending', 'processing') AND ${SHOWN} AND m.sender = ?`,
        this.cursors().openFrom,
        sender,
      )
      .one().n;
  }

  /** Whether any human message waits for (or is getting) an answer: the room marker tells bots. */
  hasOpenPrompts(): boolean {
    return this.openRows(1).length > 0;
  }

  /** A human message's latest regenerate request id, or an AI reply's reply id (regenerate bookkeeping). */
  asks(id: string): { regenRequest: string | null; replyId: string | null; sender: string | null } {
    const row = this.sql
      .exec<{ regen_request: string | null; reply_id: string | null; sender: string | null }>(
        `SELECT regen_request, reply_id, sender FROM messages WHERE id = ?`,
        id,
      )
      .toArray()[0];
    return { regenRequest: row?.regen_request ?? null, replyId: row?.reply_id ?? null, sender: row?.sender ?? null };
  }

  /**
   * Ask again: the human message is pending again (its lease gone), at the next position, under
   * this request id, and its KV record is owed. One row and its position entry. It is open again
   * below where the open-message scan may start: the scan starts at it (the row carries that).
   */
  reopen(human: Message, requestId: string): void {
    const cursors = this.cursors();
    if (human.seq !== undefined && human.seq < cursors.openFrom) cursors.openFrom = human.seq;
    const pos = this.nextPos();
    this.sql.exec(
      `UPDATE messages SET status = 'pending', error = NULL, regen_request = ?1, pos = ?2, kv_pos = ?2,
         bot_id = NULL, lease_until = NULL, kv_done = ?4, open_from = ?5
       WHERE id = ?3`,
      requestId,
      pos,
      human.id,
      ...this.carried(),
    );
  }

  /**
   * The next answer to a regenerated message becomes the reply's next version, as an edit: the
   * old text joins the row's history; the reply takes the new text, author, stopped mark and
   * reply id, and its KV record is owed. One row and its position entry.
   */
  newAnswer(reply: Message, input: { text: string; author: string; stopped: boolean; replyId: string }, now: number) {
    const version = reply.version ?? 1;
    const pos = this.nextPos();
    this.sql.exec(
      `UPDATE messages SET text = ?1, version = ?2, edited_at = ?3, pos = ?4, kv_pos = ?4, history = ${APPEND_HISTORY},
         author = ?6, stopped = ?7, reply_id = ?8, kv_done = ?10, open_from = ?11
       WHERE id = ?9`,
      input.text,
      version + 1,
      now,
      pos,
      JSON.stringify({ version, text: reply.text, replacedAt: now } satisfies MessageVersion),
      input.author,
      input.stopped ? 1 : 0,
      input.replyId,
      reply.id,
      ...this.carried(),
    );
  }

  replyTo(humanId: string): Message | null {
    const row = this.sql.exec<Row>(`${SELECT} WHERE m.reply_to = ? ORDER BY m.seq LIMIT 1`, humanId).toArray()[0];
    return row ? this.toMessage(row) : null;
  }

  lastSeq(): number {
    return this.sql.exec<{ s: number | null }>(`SELECT MAX(seq) AS s FROM messages`).one().s ?? 0;
  }

  /** Live messages: what ROOM_MAX_MESSAGES caps (tombstones are kept but hold no slot). */
  count(): number {
    this.size ??= this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM messages m WHERE ${SHOWN}`).one().n;
    return this.size;
  }

  /** When the oldest message was created (null for an empty log): from the retention marks. */
  oldestCreatedAt(): number | null {
    return this.sql.exec<{ at: number | null }>(`SELECT MIN(oldest_created_at) AS at FROM retention_marks`).one().at;
  }

  /**
   * Up to `limit` ids of messages `which` selects (created before `before`, or tombstones),
   * oldest first, leaving out a message a bot holds a live lease on (its answer is being
   * written; it goes on a later run) and the room's latest change, so change positions
   * (MAX(pos)) never go back. By `before` alone: only the seq ranges whose mark says they hold
   * something that old are read.
   */
  removable(which: Removal, now: number, limit: number): string[] {
    const top = this.lastPos();
    if (which.tombstones) {
      // An operator purge: rare, so a scan of the log rather than an index every message pays for.
      return this.sql
        .exec<{ id: string }>(
          `SELECT m.id FROM messages m
           WHERE (m.deleted_at IS NOT NULL OR m.created_at < ?) AND m.pos < ?
             AND NOT (m.status = 'processing' AND COALESCE(m.lease_until, 0) > ?)
           ORDER BY m.seq LIMIT ?`,
          which.before ?? Number.NEGATIVE_INFINITY,
          top,
          now,
          limit,
        )
        .toArray()
        .map((row) => row.id);
    }
    if (which.before === undefined) return [];
    const ranges = this.sql
      .exec<{ first: number; next: number | null; oldest: number | null }>(
        `SELECT first_seq AS first, LEAD(first_seq) OVER (ORDER BY first_seq) AS next, oldest_created_at AS oldest
         FROM retention_marks ORDER BY first_seq`,
      )
      .toArray()
      .filter((range) => range.oldest !== null && range.oldest < which.before!);
    const ids: string[] = [];
    for (const range of ranges) {
      if (ids.length >= limit) break;
      const rows = this.sql
        .exec<{ id: string }>(
          EXPIRED_SQL,
          range.first,
          range.next ?? Number.MAX_SAFE_INTEGER,
          which.before,
          top,
          now,
          limit - ids.length,
        )
        .toArray();
      ids.push(...rows.map((row) => row.id));
    }
    return ids;
  }

  /** Deletes messages (their lease, versions and reactors are in the row); the caller is inside a transaction. */
  remove(ids: string[]): void {
    this.tail = null;
    let live = 0;
    const seqs: number[] = [];
    for (const id of ids) {
      const row = this.sql
        .exec<{ deleted_at: number | null; seq: number }>(
          `DELETE FROM messages WHERE id = ? RETURNING deleted_at, seq`,
          id,
        )
        .toArray()[0];
      if (!row) continue;
      seqs.push(row.seq);
      if (row.deleted_at === null) live++;
    }
    // A removed tombstone held no slot.
    if (this.size !== null) this.size -= live;
    if (!seqs.length) return;
    // The newest seq must never be given again, even if its message is gone.
    const top = this.lastSeqGiven();
    if (seqs.includes(top) && this.lastSeq() < top) this.meta.set("seqFloor", top);
    // Each range that lost messages keeps the oldest created_at it still holds.
    this.sql.exec(
      `UPDATE retention_marks AS r SET oldest_created_at = (
         SELECT MIN(m.created_at) FROM messages m WHERE m.seq >= r.first_seq
           AND m.seq < COALESCE((SELECT MIN(n.first_seq) FROM retention_marks n WHERE n.first_seq > r.first_seq), ?2))
       WHERE r.first_seq IN (SELECT DISTINCT (SELECT MAX(k.first_seq) FROM retention_marks k WHERE k.first_seq <= j.value)
         FROM json_each(?1) j)`,
      JSON.stringify(seqs),
      Number.MAX_SAFE_INTEGER,
    );
    this.mark = undefined;
  }

  /**
   * Messages whose KV record is owed since the watermark `since`, by the position of the change
   * that owes it, and the room's position as read: once they are written, nothing up to it is owed.
   */
  owed(since: number): { owed: OwedRecord[]; upTo: number } {
    const { tail } = this;
    if (tail && tail.from === since && tail.upTo === this.lastPos()) return { owed: [...tail.owed], upTo: tail.upTo };
    const owed = this.sql
      .exec<Row & { kv_pos: number }>(OWED_SQL, since)
      .toArray()
      .map((row) => ({ id: row.id, at: row.kv_pos, message: this.toMessage(row) }))
      .sort((a, b) => a.at - b.at);
    return { owed, upTo: this.lastPos() };
  }

  /** Every record owed up to `to` reached KV: the tail keeps what is owed past it, or starts when none is. */
  flushedTo(to: number): void {
    const { tail } = this;
    if (tail && to >= tail.from && to <= tail.upTo) {
      tail.owed = tail.owed.filter((record) => record.at > to);
      tail.from = to;
    } else this.tail = to === this.lastPos() ? { from: to, upTo: to, owed: [] } : null;
  }

  /** How many records are owed since the watermark. */
  owedCount(since: number): number {
    return this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM messages m WHERE ${OWED_WHERE}`, since).one().n;
  }

  /** Whether any record is owed since the watermark (stops at the first). */
  anyOwed(since: number): boolean {
    const query = `SELECT EXISTS (SELECT 1 FROM messages m WHERE ${OWED_WHERE}) AS n`;
    return this.sql.exec<{ n: number }>(query, since).one().n === 1;
  }
}

/** The reads of a log; a room that has never been written (no tables yet) reads EMPTY_LOG. */
export type LogReader = Pick<
  RoomLog,
  | "get"
  | "recent"
  | "newest"
  | "before"
  | "after"
  | "claimable"
  | "replyTo"
  | "lastPos"
  | "lastSeq"
  | "count"
  | "oldestCreatedAt"
>;
export const EMPTY_LOG: LogReader = {
  get: () => null,
  recent: () => [],
  newest: () => [],
  before: () => ({ messages: [], more: false }),
  after: () => [],
  claimable: () => [],
  replyTo: () => null,
  lastPos: () => 0,
  lastSeq: () => 0,
  count: () => 0,
  oldestCreatedAt: () => null,
};

export class Meta {
  constructor(private readonly sql: SqlStorage) {}
  get(key: string): string | null {
    return this.sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = ?`, key).toArray()[0]?.value ?? null;
  }
  set(key: string, value: string | number | boolean): void {
    this.sql.exec(
      `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      key,
      String(value),
    );
  }
}

// ---- the outbox: KV keys the room still owes a write ----

/** The meta row of the outbox watermark and the open-message scan's start (migrations/0010_lean_rows.sql). */
const CURSORS = "cursors";
type SavedCursors = { kvPos: number; openFrom: number };
export const readCursors = (meta: Meta): SavedCursors => {
  const value = meta.get(CURSORS);
  return value ? (JSON.parse(value) as SavedCursors) : { kvPos: 0, openFrom: 0 };
};
/**
 * The outbox watermark, the open-message scan's start, and up to where records owed at wake
 * may already have reached KV (written after the watermark a change last carried).
 */
type Cursors = { kvDone: number; openFrom: number; recheckUpTo: number };

// A message's record is owed by its own row (`kv_pos`, set in the change's transaction); the
// watermark `kvPos` says every change up to it reached KV, one row written per flushed batch.
// The `outbox` table holds the rest: the room's marker, and records whose put failed (retried
// with backoff, from the watermark on).
export type OutboxRow = { key: string; version: number; queued_at: number; attempts: number };

export class Outbox {
  constructor(
    private readonly sql: SqlStorage,
    private readonly meta: Meta,
    private readonly log: RoomLog,
  ) {}

  /** The watermark over change positions: every record change up to it reached KV. */
  kvPos(): number {
    return this.log.cursors().kvDone;
  }

  /**
   * Moves the watermark, in memory: the next change's row carries it. Until then a restart
   * re-reads those records from KV and writes none that KV already holds as they are.
   */
  advance(to: number): void {
    const cursors = this.log.cursors();
    if (to > cursors.kvDone) cursors.kvDone = to;
  }

  /** Saves the watermark in meta (one row): a flip to kv, after which no change may carry it. */
  persist(): void {
    const { kvDone, openFrom } = this.log.cursors();
    this.meta.set(CURSORS, JSON.stringify({ kvPos: kvDone, openFrom }));
  }

  /** Queues (or re-queues, due at `nextAt`) a write of `key` that no message row carries. */
  enqueue(key: string, now: number, nextAt = 0, attempts = 0): void {
    this.empty = false;
    this.sql.exec(
      `INSERT INTO outbox (key, version, queued_at, attempts, next_at) VALUES (?1, 1, ?2, ?3, ?4)
       ON CONFLICT (key) DO UPDATE SET version = version + 1, attempts = ?3, next_at = ?4`,
      key,
      now,
      attempts,
      nextAt,
    );
  }

  /**
   * Seen empty, and nothing queued since: the flush after every answer skips the table (it is
   * empty but for the rare marker and failed puts). A rolled-back enqueue leaves it false: one look more.
   */
  private empty = false;

  /** Rows of the table due at `now` (every row when `now` is Infinity), the longest due first. */
  due(now: number, limit: number): OutboxRow[] {
    if (this.empty) return [];
    const until = Number.isFinite(now) ? now : Number.MAX_SAFE_INTEGER;
    // The earliest `limit` by due time hold every row due now (up to the limit); none at all: empty.
    const rows = this.sql
      .exec<OutboxRow & { next_at: number }>(
        `SELECT key, version, queued_at, attempts, next_at FROM outbox ORDER BY next_at, queued_at LIMIT ?`,
        limit,
      )
      .toArray();
    if (!rows.length) this.empty = true;
    return rows.filter((row) => row.next_at <= until).map(({ next_at: _, ...row }) => row);
  }

  /** The puts of these versions landed, in one statement; newer re-queues of their keys stay. */
  doneMany(rows: OutboxRow[]): void {
    if (!rows.length) return;
    this.sql.exec(
      `DELETE FROM outbox WHERE (key, version) IN (SELECT j.value ->> 0, j.value ->> 1 FROM json_each(?) j)`,
      JSON.stringify(rows.map((row) => [row.key, row.version])),
    );
  }

  /** The put failed: try again later, unless the key was re-queued meanwhile. */
  retryLater(row: OutboxRow, nextAt: number): void {
    this.sql.exec(
      `UPDATE outbox SET attempts = attempts + 1, next_at = ? WHERE key = ? AND version = ?`,
      nextAt,
      row.key,
      row.version,
    );
  }

  /** Writes owed: table rows and records past the watermark. */
  pending(): number {
    return this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM outbox`).one().n + this.log.owedCount(this.kvPos());
  }

  /** When the earliest write is due, or null when nothing is owed. */
  nextDue(): number | null {
    if (this.log.anyOwed(this.kvPos())) return 0;
    return this.sql.exec<{ at: number | null }>(`SELECT MIN(next_at) AS at FROM outbox`).one().at;
  }
}

// ---- the room's state ----

// What every part of a room shares: its storage (the log, bookkeeping rows, the outbox),
// the KV it writes, its limits, and the bookkeeping kept in memory (loaded once on wake)
// so the hot path reads no bookkeeping rows. A room gets its tables on its first write;
// until then it keeps this state in memory only.
export class RoomState {
  readonly sql: SqlStorage;
  readonly log: RoomLog;
  readonly meta: Meta;
  readonly outbox: Outbox;
  /** KV as this room writes it; a field so fault-injection tests can swap in a failing one. */
  kv: KVNamespace;
  /** ROOM_MAX_MESSAGES and ROOM_RETENTION_DAYS; a field so tests can set them for one room. */
  limits: RoomLimits;
  /** Whether the tables exist. */
  schema = false;
  /** `getByName` ids carry the name into the object (also on alarms and after eviction). */
  roomName: string;
  flagVersion = -1;
  active = false;
  /** The room's `room:<name>` record is owed or written. */
  marked = false;
  /** The Control object lists this room among the do rooms a flip must flush. */
  registered = false;

  constructor(
    readonly ctx: DurableObjectState,
    env: Env,
    usage: Usage,
  ) {
    // Every SQLite statement and KV call of the room is counted (the cost bench reads it via inspect).
    this.sql = usage.countingSql(ctx.storage.sql);
    this.kv = usage.countingKv(env.CHAT_KV);
    this.limits = roomLimits(env);
    this.roomName = ctx.id.name ?? "";
    this.meta = new Meta(this.sql);
    this.log = new RoomLog(this.sql, () => this.roomName, this.meta);
    this.outbox = new Outbox(this.sql, this.meta, this.log);
  }

  /**
   * On wake: migrate and read the bookkeeping; false for a never-written room (a read or a
   * socket must not create anything).
   */
  load(): boolean {
    this.schema = hasSchema(this.sql);
    if (!this.schema) return false;
    this.transaction(() => applyMigrations(this.sql, MIGRATIONS));
    this.roomName ||= this.meta.get("room") ?? "";
    this.flagVersion = Number(this.meta.get("flagVersion") ?? -1);
    this.active = this.flagVersion >= 0 && this.meta.get("active") !== "false";
    this.marked = this.meta.get("marked") === "true";
    this.registered = this.meta.get("registered") === "true";
    // An operator's cap for this room (PUT /api/admin/rooms/:room/limits) outranks ROOM_MAX_MESSAGES.
    const cap = this.meta.get("maxMessages");
    if (cap !== null) this.limits = { ...this.limits, maxMessages: Number(cap) };
    return true;
  }

  /**
   * One SQLite transaction. Memory the run changes (this state's bookkeeping, the log's
   * cached position and size, and whatever a part registers with `onRollback`) goes back to
   * what it was if the transaction rolls back, so memory never claims what storage lacks.
   */
  transaction<T>(run: () => T): T {
    const { flagVersion, active, marked, registered, roomName } = this;
    const restores = [this.log.save(), ...this.savers.map((save) => save())];
    try {
      return this.ctx.storage.transactionSync(run);
    } catch (err) {
      Object.assign(this, { flagVersion, active, marked, registered, roomName });
      for (const restore of restores) restore();
      throw err;
    }
  }

  /** `save` is called as each transaction starts; what it answers runs if that transaction rolls back. */
  onRollback(save: () => () => void): void {
    this.savers.push(save);
  }

  private readonly savers: (() => () => void)[] = [];

  /** The log to read: the real one once the room has tables, else an empty one. */
  get view(): LogReader {
    return this.schema ? this.log : EMPTY_LOG;
  }

  /** Keeps a bookkeeping value; a room without tables keeps it in memory until its first write. */
  remember(key: string, value: string | number | boolean): void {
    if (this.schema) this.meta.set(key, value);
  }

  /** Messages created before this were purged by an operator (`before`); 0: no such purge. */
  purgedBefore(): number {
    return this.schema ? Number(this.meta.get("purgedBefore") ?? 0) : 0;
  }

  setRoomName(room: string): void {
    if (!room || this.roomName === room) return;
    this.roomName = room;
    this.remember("room", room);
  }

  /** The first write gives the room its tables, and stores what it kept in memory until then. */
  ensureSchema(): void {
    if (this.schema) return;
    this.transaction(() => {
      applyMigrations(this.sql, MIGRATIONS);
      if (this.roomName) this.meta.set("room", this.roomName);
      this.meta.set("flagVersion", this.flagVersion);
      this.meta.set("active", this.active);
      this.meta.set("registered", this.registered);
    });
    this.schema = true;
  }
}
