// All SQL of a room, and the state its parts share. Synchronous, so every method that
// changes more than one row (and an outbox row with the change it reports) is atomic
// inside the Durable Object.
import { isClaimable } from "../shared/leases";
import { toRecord, type Message, type MessageStatus } from "../shared/message";
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

const SELECT = `SELECT m.seq, m.pos, m.id, m.kind, m.author, m.text, m.reply_to, m.status, m.created_at, m.error,
  m.stopped, c.bot_id, c.lease_until, m.deleted_at, m.version, m.edited_at, m.reactions
  FROM messages m LEFT JOIN claims c ON c.message_id = m.id`;

/** Rows lists show: a tombstone (an operator deletion) is left out. */
const SHOWN = `m.deleted_at IS NULL`;

/** One scroll-back page (exported so a test can check its query plan: a rowid range, no scan). */
export const PAGE_BEFORE_SQL = `${SELECT} WHERE m.seq < ? AND ${SHOWN} ORDER BY m.seq DESC LIMIT ?`;

/** What a removal takes: messages created before `before` (epoch ms), and/or every tombstone. */
export type Removal = { before?: number; tombstones?: boolean };

export class RoomLog {
  /** The room's newest change position, read once on first use, then kept. */
  private position: number | null = null;
  /**
   * How many live messages (not tombstones) the log holds, counted once on first use, then
   * kept: the cap is checked on every post, and a deletion must free its slot at once.
   */
  private size: number | null = null;

  constructor(
    private readonly sql: SqlStorage,
    private readonly room: () => string,
  ) {}

  /** What this log keeps in memory, and how to put it back (a rolled-back transaction). */
  save(): () => void {
    const { position, size } = this;
    return () => {
      this.position = position;
      this.size = size;
    };
  }

  /** The position of the room's latest change (0 when nothing happened yet). */
  lastPos(): number {
    this.position ??= this.sql.exec<{ p: number | null }>(`SELECT MAX(pos) AS p FROM messages`).one().p ?? 0;
    return this.position;
  }

  private nextPos(): number {
    this.position = this.lastPos() + 1;
    return this.position;
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
    const row = this.sql.exec<Row>(`${SELECT} WHERE m.id = ?`, id).toArray()[0];
    return row ? this.toMessage(row) : null;
  }

  /** The logged messages among `ids`, in one query (the outbox flush reads a batch at a time). */
  getMany(ids: string[]): Map<string, Message> {
    const rows = this.sql
      .exec<Row>(`${SELECT} WHERE m.id IN (SELECT value FROM json_each(?))`, JSON.stringify(ids))
      .toArray();
    return new Map(rows.map((row) => [row.id, this.toMessage(row)]));
  }

  /** Inserts unless the id is already logged; returns the logged message either way. */
  insert(message: Message, editKeyHash: string | null = null): { message: Message; created: boolean } {
    // One statement checks and inserts: no lookup first on the hot path (a known id is the rare case).
    const pos = this.lastPos() + 1;
    const inserted = this.sql
      .exec<{ seq: number }>(
        `INSERT INTO messages (id, kind, author, text, reply_to, status, created_at, error, stopped, pos, edit_key_hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO NOTHING RETURNING seq`,
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
        editKeyHash,
      )
      .toArray()[0];
    if (!inserted) return { message: this.get(message.id)!, created: false };
    this.position = pos;
    if (this.size !== null) this.size++;
    // Built from what was written, not read back: one query less on the hot path.
    const written = { ...toRecord(message), room: this.room(), seq: inserted.seq, pos };
    const { claimedBy: _by, leaseUntil: _until, ...logged } = written;
    return { message: logged, created: true };
  }

  setStatus(id: string, status: MessageStatus, error: string | null = null): void {
    this.sql.exec(`UPDATE messages SET status = ?, error = ?, pos = ? WHERE id = ?`, status, error, this.nextPos(), id);
    if (status !== "processing") this.sql.exec(`DELETE FROM claims WHERE message_id = ?`, id);
  }

  setClaim(id: string, botId: string, leaseUntil: number): void {
    this.sql.exec(
      `INSERT INTO claims (message_id, bot_id, lease_until) VALUES (?, ?, ?)
       ON CONFLICT (message_id) DO UPDATE SET bot_id = excluded.bot_id, lease_until = excluded.lease_until`,
      id,
      botId,
      leaseUntil,
    );
    this.sql.exec(`UPDATE messages SET status = 'processing', pos = ? WHERE id = ?`, this.nextPos(), id);
  }

  /**
   * An operator deletion: the row stays (its id can never be posted, healed or merged
   * again) with text and author emptied, the claim dropped, at the room's next position.
   * A message the log never had is logged as a tombstone straight away.
   */
  tombstone(message: Message, deletedAt: number): Message {
    const logged = this.get(message.id);
    const inserted = !logged && this.insert(message).created;
    // The row stops counting against the cap (a never-logged one was counted by its insert just now).
    if (this.size !== null && (inserted || (logged && !logged.deleted))) this.size--;
    this.sql.exec(
      `UPDATE messages SET text = '', author = '', deleted_at = ?, pos = ? WHERE id = ?`,
      deletedAt,
      inserted ? this.lastPos() : this.nextPos(),
      message.id,
    );
    this.sql.exec(`DELETE FROM claims WHERE message_id = ?`, message.id);
    return this.get(message.id)!;
  }

  /** The hash of the key its author may edit it with (null: nobody may). */
  editKeyHash(id: string): string | null {
    return (
      this.sql.exec<{ h: string | null }>(`SELECT edit_key_hash AS h FROM messages WHERE id = ?`, id).toArray()[0]?.h ??
      null
    );
  }

  /** A new text: the old one is kept as its version, the message takes the next version and position. */
  edit(current: Message, text: string, now: number): void {
    const version = current.version ?? 1;
    this.sql.exec(
      `INSERT INTO message_versions (id, version, text, replaced_at) VALUES (?, ?, ?, ?)`,
      current.id,
      version,
      current.text,
      now,
    );
    this.sql.exec(
      `UPDATE messages SET text = ?, version = ?, edited_at = ?, pos = ? WHERE id = ?`,
      text,
      version + 1,
      now,
      this.nextPos(),
      current.id,
    );
  }

  /** Every earlier text of a message, oldest first. */
  versions(id: string): { version: number; text: string; replacedAt: number }[] {
    return this.sql
      .exec<{ version: number; text: string; replaced_at: number }>(
        `SELECT version, text, replaced_at FROM message_versions WHERE id = ? ORDER BY version`,
        id,
      )
      .toArray()
      .map((row) => ({ version: row.version, text: row.text, replacedAt: row.replaced_at }));
  }

  /**
   * Adds (or takes back) one reactor's emoji: true when that changed anything, and then the
   * message's counts and position move too (two rows); the same toggle again writes nothing.
   */
  react(message: Message, emoji: string, reactor: string, on: boolean): boolean {
    const changed = on
      ? this.sql.exec(
          `INSERT INTO reactions (message_id, emoji, reactor) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
          message.id,
          emoji,
          reactor,
        ).rowsWritten > 0
      : this.sql.exec(
          `DELETE FROM reactions WHERE message_id = ? AND emoji = ? AND reactor = ?`,
          message.id,
          emoji,
          reactor,
        ).rowsWritten > 0;
    if (!changed) return false;
    const counts: Record<string, number> = { ...(message.reactions ?? {}) };
    counts[emoji] = (counts[emoji] ?? 0) + (on ? 1 : -1);
    if (counts[emoji]! <= 0) delete counts[emoji];
    this.sql.exec(
      `UPDATE messages SET reactions = ?, pos = ? WHERE id = ?`,
      JSON.stringify(counts),
      this.nextPos(),
      message.id,
    );
    return true;
  }

  /** The newest `limit` messages, oldest first; tombstones are left out. */
  recent(limit: number): Message[] {
    const rows = this.sql.exec<Row>(`${SELECT} WHERE ${SHOWN} ORDER BY m.seq DESC LIMIT ?`, limit).toArray();
    return rows.reverse().map((row) => this.toMessage(row));
  }

  /**
   * The `limit` newest messages by when they were written, oldest first: what the kv path's list
   * should hold. Not by `seq`: a message merged from a kv list or healed is logged late but old,
   * and must not take a newer message's place in `cache:<room>`.
   */
  newest(limit: number): Message[] {
    const rows = this.sql
      .exec<Row>(`${SELECT} WHERE ${SHOWN} ORDER BY m.created_at DESC, m.seq DESC LIMIT ?`, limit)
      .toArray();
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
      .exec<Row>(`${SELECT} WHERE m.pos > ? ORDER BY m.pos ASC LIMIT ?`, since, limit)
      .toArray()
      .map((row) => this.toMessage(row));
  }

  /** Ids of human messages still pending or processing, oldest first. */
  unfinishedHumanIds(limit: number): string[] {
    return this.sql
      .exec<{ id: string }>(
        `SELECT id FROM messages m WHERE kind = 'human' AND status IN ('pending', 'processing') AND ${SHOWN}
         ORDER BY seq LIMIT ?`,
        limit,
      )
      .toArray()
      .map((row) => row.id);
  }

  /** Human messages a bot may claim now, oldest first (the rule itself: shared/leases.ts). */
  claimable(now: number): Message[] {
    // The query only narrows to candidates (the index on kind, status); isClaimable decides.
    return this.sql
      .exec<Row>(
        `${SELECT} WHERE m.kind = 'human' AND m.status IN ('pending', 'processing') AND ${SHOWN}
         ORDER BY m.seq LIMIT 1000`,
      )
      .toArray()
      .map((row) => this.toMessage(row))
      .filter((message) => isClaimable(message, now))
      .slice(0, 200);
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

  /** When the oldest message was created (null for an empty log). */
  oldestCreatedAt(): number | null {
    return this.sql.exec<{ at: number | null }>(`SELECT MIN(created_at) AS at FROM messages`).one().at;
  }

  /**
   * Up to `limit` ids of messages `which` selects (created before `before`, or tombstones),
   * oldest first, leaving out a message a bot holds a live lease on (its answer is being
   * written; it goes on a later run) and the room's latest change, so change positions
   * (MAX(pos)) never go back.
   */
  removable(which: Removal, now: number, limit: number): string[] {
    const selected: string[] = [];
    const bindings: number[] = [];
    if (which.before !== undefined) {
      selected.push(`m.created_at < ?`);
      bindings.push(which.before);
    }
    if (which.tombstones) selected.push(`m.deleted_at IS NOT NULL`);
    if (!selected.length) return [];
    return this.sql
      .exec<{ id: string }>(
        `SELECT m.id FROM messages m LEFT JOIN claims c ON c.message_id = m.id
         WHERE (${selected.join(" OR ")}) AND m.pos < (SELECT MAX(pos) FROM messages)
           AND NOT (m.status = 'processing' AND COALESCE(c.lease_until, 0) > ?)
         ORDER BY m.created_at LIMIT ?`,
        ...bindings,
        now,
        limit,
      )
      .toArray()
      .map((row) => row.id);
  }

  /** Deletes messages with their claims, versions and reactions; the caller is inside a transaction. */
  remove(ids: string[]): void {
    let live = 0;
    for (const id of ids) {
      this.sql.exec(`DELETE FROM claims WHERE message_id = ?`, id);
      this.sql.exec(`DELETE FROM message_versions WHERE id = ?`, id);
      this.sql.exec(`DELETE FROM reactions WHERE message_id = ?`, id);
      const row = this.sql
        .exec<{ deleted_at: number | null }>(`DELETE FROM messages WHERE id = ? RETURNING deleted_at`, id)
        .toArray()[0];
      if (row && row.deleted_at === null) live++;
    }
    // A removed tombstone held no slot.
    if (this.size !== null) this.size -= live;
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

// A row joins the transaction of the change it reports; outbox.ts writes it to KV after the answer.
export type OutboxRow = { key: string; version: number; queued_at: number; attempts: number };

export class Outbox {
  constructor(private readonly sql: SqlStorage) {}

  /** Queues (or re-queues, due now) a write of `key`. */
  enqueue(key: string, now: number): void {
    this.sql.exec(
      `INSERT INTO outbox (key, version, queued_at) VALUES (?, 1, ?)
       ON CONFLICT (key) DO UPDATE SET version = version + 1, attempts = 0, next_at = 0`,
      key,
      now,
    );
  }

  /** Rows due at `now` (every row when `now` is Infinity), oldest first. */
  due(now: number, limit: number): OutboxRow[] {
    const until = Number.isFinite(now) ? now : Number.MAX_SAFE_INTEGER;
    return this.sql
      .exec<OutboxRow>(
        `SELECT key, version, queued_at, attempts FROM outbox WHERE next_at <= ? ORDER BY queued_at LIMIT ?`,
        until,
        limit,
      )
      .toArray();
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

  pending(): number {
    return this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM outbox`).one().n;
  }

  /** When the earliest row is due, or null when nothing is owed. */
  nextDue(): number | null {
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
    this.log = new RoomLog(this.sql, () => this.roomName);
    this.outbox = new Outbox(this.sql);
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
