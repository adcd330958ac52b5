// The Room Durable Object: one per room, single-threaded, the only authority for a
// `do` room. A post, socket send, reply, claim, release, failure or heal is one call
// here: validate, dedupe by id, change SQLite in one transaction (with the outbox rows
// for KV), push, answer. KV records and the `cache:<room>` mirror are written after
// the answer, from the outbox and by alarm, so KV never sits on the write path.
import { DurableObject } from "cloudflare:workers";
import { StatsBatch } from "../control/stats-batch";
import { PING_FRAME, PONG_FRAME, type ServerFrame } from "../shared/frames";
import { cacheKey, commentKey, roomKey } from "../shared/keys";
import { refuseClaim, refuseFail, refuseRelease, refuseReply, unclaimedGraceMs, type Refusal } from "../shared/leases";
import { CACHE_SIZE, DELETED_ERROR, type CacheMode, type Message } from "../shared/message";
import { storedMessageSchema } from "../shared/schemas";
import { MAX_BATCH } from "./kv-writes";
import { EMPTY_LOG, Meta, RoomLog, type LogReader } from "./log";
import { applyMigrations, hasSchema } from "../storage/migrations";
import { MIGRATIONS } from "./migrations";
import { Outbox } from "./outbox";
import { OutboxFlusher, type FlushStats } from "./outbox-flusher";
import { handleClientFrame, type SocketAnswer } from "./socket-frames";
import { Broadcaster } from "./broadcast";
import { capRefusal, clientTag, socketClient, socketLimits, type SocketClient } from "./socket-caps";
import { UNKNOWN_CLIENT, isExempt } from "../limits/client-key";
import { limitPost, type PostLimited } from "../limits/post-limit";
import { limitNewRoom } from "../limits/room-limit";
import { roomLimits, type RoomLimits } from "../limits/retention";
import { Usage } from "../storage/usage";
import type { UsageCounts } from "../shared/usage";
import type { StreamAck, StreamCall, StreamStats } from "../shared/stream";
import { LiveStreams } from "./streams";

/** Who is calling and under which flag version; a newer version triggers a reconcile. */
export type RoomCall = { room: string; flagVersion: number };

/**
 * A refusal; `mode: "kv"` means the room has left do mode and the call belongs on the kv
 * path; 429 (a limit, with `retryAfter` in seconds) and 507 (the room is full) come from the room's limits.
 */
export type RoomRefusal = { status: Refusal["status"] | 429 | 507; error: string; mode?: CacheMode; retryAfter?: number };
export type RoomResult<T> = { ok: true; value: T } | ({ ok: false } & RoomRefusal);

export type NewHumanMessage = { id: string; text: string; author: string };
export type NewReply = { id: string; replyTo: string; text: string; author: string; botId: string; stopped?: boolean };
export type Stored = { message: Message; created: boolean };
/** `deleted`: false when the message already was a tombstone. */
export type Deleted = { message: Message; deleted: boolean };

export type OutboxStats = { pending: number } & FlushStats;
export type RoomInspection = {
  room: string;
  count: number;
  lastSeq: number;
  active: boolean;
  flagVersion: number;
  mirroredAt: number;
  skippedOnReconcile: number;
  outbox: OutboxStats;
  /** billed operations since the object woke (src/storage/usage.ts) */
  usage: UsageCounts;
  /** replies being written now, and the storage writes and pushes streams have cost since the room woke */
  streams: StreamStats;
};

export const MIRROR_INTERVAL_MS = 1000;
/** Messages retention deletes per alarm run at most: a long backlog goes a batch a second. */
export const RETENTION_BATCH = 500;
/** When everything past the retention is kept for now (leased, or the latest change), look again this much later. */
const RETENTION_RECHECK_MS = 3_600_000;
/** Headers the Worker adds when it hands a socket upgrade to the room (its name the room knows: `ctx.id.name`). */
export const FLAG_VERSION_HEADER = "x-flag-version";
export const ROOM_MODE_HEADER = "x-room-mode";
/** The client's key (src/worker/client-key.ts): its sockets and sends are counted by it. */
export const CLIENT_KEY_HEADER = "x-client-key";

const LEFT_DO_MODE: RoomRefusal = { status: 409, error: "room is not in do mode; use the kv path", mode: "kv" };
/** A deleted id is final: whoever brings it back (post, heal, claim, reply) is told so. */
const gone = (what = ""): RoomRefusal => ({ status: 410, error: `${what}${DELETED_ERROR}` });

const ok = <T>(value: T): RoomResult<T> => ({ ok: true, value });
const refused = (refusal: RoomRefusal): RoomResult<never> => ({ ok: false, ...refusal });

export class Room extends DurableObject<Env> {
  private readonly log: RoomLog;
  private readonly meta: Meta;
  private readonly outbox: Outbox;
  /** KV as this room writes it; a field so fault-injection tests can swap in a failing one. */
  private kv: KVNamespace;
  /** ROOM_MAX_MESSAGES and ROOM_RETENTION_DAYS; a field so tests can set them for one room. */
  private limits: RoomLimits;
  /** Whether the tables exist: a room gets them on its first write, and until then keeps its state in memory. */
  private schema = false;
  /** This object's own stats batch (see StatsBatch: never shared with the Worker's). */
  private readonly stats = new StatsBatch();
  /** ROOM_LIMITER checks in flight, and clients already allowed to create this room (see limitCreation). */
  private creationChecks = new Map<string, Promise<PostLimited | null>>();
  private creationAllowed = new Set<string>();
  // Kept in memory (loaded once on wake) so the hot path reads no bookkeeping rows.
  /** `getByName` ids carry the name into the object (also on alarms and after eviction). */
  private roomName = this.ctx.id.name ?? "";
  private flagVersion = -1;
  private active = false;
  private marked = false;
  /** The Control object lists this room among the do rooms a flip must flush. */
  private registered = false;
  private alarmAt: number | null = null;
  private mirroredAt = 0;
  private mirrorDirty = false;
  private readonly flusher: OutboxFlusher;
  private readonly usage = new Usage();
  private readonly sql: SqlStorage;
  private readonly pushes: Broadcaster;
  private readonly streams: LiveStreams;
  /** Each socket's frames are answered in the order sent, though the post limit is awaited. */
  private readonly socketTurns = new WeakMap<WebSocket, Promise<unknown>>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Every SQLite statement and KV call of the room is counted (the cost bench reads it via inspect).
    const sql = (this.sql = this.usage.countingSql(ctx.storage.sql));
    this.kv = this.usage.countingKv(env.CHAT_KV);
    this.limits = roomLimits(env);
    this.meta = new Meta(sql);
    this.log = new RoomLog(sql, () => this.roomName);
    this.outbox = new Outbox(sql);
    this.flusher = new OutboxFlusher({
      outbox: this.outbox,
      kv: () => this.kv,
      room: () => this.roomName,
      hasSchema: () => this.schema,
      find: (id) => this.log.get(id),
      retentionMs: () => this.limits.retentionMs,
      transaction: (run) => ctx.storage.transactionSync(run),
      retryAt: (at) => this.scheduleAlarm(at),
    });
    this.pushes = new Broadcaster(() => ctx.getWebSockets());
    this.streams = new LiveStreams(sql, (frame) => this.broadcast(frame));
    ctx.blockConcurrencyWhile(async () => {
      // A read or a socket must not create anything: a never-written room reads as empty.
      this.schema = hasSchema(sql);
      if (!this.schema) return;
      ctx.storage.transactionSync(() => applyMigrations(sql, MIGRATIONS));
      this.roomName ||= this.meta.get("room") ?? "";
      this.flagVersion = Number(this.meta.get("flagVersion") ?? -1);
      this.active = this.flagVersion >= 0 && this.meta.get("active") !== "false";
      this.marked = this.meta.get("marked") === "true";
      this.registered = this.meta.get("registered") === "true";
      this.streams.load();
      // After a restart the last mirror may be older than the log: write one soon.
      this.mirrorDirty = this.active;
      this.alarmAt = await ctx.storage.getAlarm();
      // Owed writes, or (rooms from before retention) messages retention must look at.
      const retentionDue = this.limits.retentionMs > 0 && this.log.oldestCreatedAt() !== null;
      if (this.alarmAt === null && (this.outbox.pending() > 0 || retentionDue)) await this.scheduleAlarm(Date.now());
    });
    // Pings are answered by the runtime without waking a hibernated room.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
  }

  // ---- RPC methods called by the Worker (do mode) ----

  /** A human message: stored once per id; a known id answers the stored message. */
  async post(call: RoomCall, input: NewHumanMessage, creator?: string): Promise<RoomResult<Stored>> {
    const refusal = await this.enter(call);
    if (refusal) return refused(refusal);
    const known = this.view.get(input.id);
    if (known?.deleted) return refused(gone("id: "));
    if (known) return ok({ message: known, created: false });
    // `creator`: the client key a new room counts against (none for bot and operator tokens).
    const limited = this.roomFull() ?? (creator !== undefined && this.isNew() ? await this.limitCreation(creator) : null);
    if (limited) return refused(limited);
    if (!(await this.admitWrites(call.room))) return refused(LEFT_DO_MODE);
    return ok(this.storeHuman(input));
  }

  /** One message of this room, straight from the log (a just-acknowledged post is readable at once). */
  async get(call: RoomCall, id: string): Promise<RoomResult<Message>> {
    const refusal = await this.enter(call);
    if (refusal) return refused(refusal);
    const message = this.view.get(id);
    if (message?.deleted) return refused(gone());
    return message ? ok(message) : refused({ status: 404, error: "message not found in this room" });
  }

  async list(call: RoomCall, limit: number, since?: number): Promise<RoomResult<{ comments: Message[]; lastSeq: number }>> {
    const refusal = await this.enter(call);
    if (refusal) return refused(refusal);
    const comments = since === undefined ? this.view.recent(limit) : this.view.after(since, limit);
    // `lastSeq` is the room's change position: the `since` that continues from here.
    return ok({ comments, lastSeq: this.view.lastPos() });
  }

  /** Scroll-back: the page of messages logged before `before` (a `seq`), oldest first; `more` when older ones remain. */
  async listBefore(call: RoomCall, before: number, limit: number): Promise<RoomResult<{ comments: Message[]; lastSeq: number; more: boolean }>> {
    const refusal = await this.enter(call);
    if (refusal) return refused(refusal);
    const { messages, more } = this.view.before(before, limit);
    return ok({ comments: messages, lastSeq: this.view.lastPos(), more });
  }

  /** Re-adds a message from its KV record; re-adding an AI reply also completes its human message. */
  async heal(call: RoomCall, record: Message): Promise<RoomResult<{ message: Message; readded: boolean }>> {
    const refusal = await this.enter(call, true);
    if (refusal) return refused(refusal);
    // The record may not say so yet (KV lags the log): the log's tombstone decides.
    if (record.deleted || this.view.get(record.id)?.deleted) return refused(gone());
    this.ensureSchema();
    const now = Date.now();
    const frames: ServerFrame[] = [];
    const message = this.ctx.storage.transactionSync(() => {
      const { message, created } = this.log.insert(record);
      if (created) {
        this.owe(commentKey(message.id), now);
        frames.push({ type: "message", message });
      }
      const human = message.replyTo ? this.log.get(message.replyTo) : null;
      if (human) this.streams.dropFor(human.id);
      if (human && human.kind === "human" && !human.deleted && human.status !== "complete") {
        this.log.setStatus(human.id, "complete");
        this.owe(commentKey(human.id), now);
        frames.push({ type: "update", message: this.log.get(human.id)! });
      }
      return { message, readded: created };
    });
    this.changed(frames);
    return ok(message);
  }

  async pending(call: RoomCall): Promise<RoomResult<Message[]>> {
    const refusal = await this.enter(call);
    if (refusal) return refused(refusal);
    return ok(this.view.claimable(Date.now()));
  }

  /** Atomic lease (rules in shared/leases.ts). */
  async claim(call: RoomCall, messageId: string, botId: string, leaseMs: number): Promise<RoomResult<Message>> {
    return this.changeStatus(call, messageId, (message, now) => refuseClaim(message, botId, now), (id, now) => this.log.setClaim(id, botId, now + leaseMs), false);
  }

  async release(call: RoomCall, messageId: string, botId: string): Promise<RoomResult<Message>> {
    const released = await this.changeStatus(call, messageId, (message) => refuseRelease(message, botId), (id) => this.log.setStatus(id, "pending"), false);
    if (released.ok) this.streams.interruptFor(messageId);
    return released;
  }

  async fail(call: RoomCall, messageId: string, botId: string, reason: string): Promise<RoomResult<Message>> {
    const failed = await this.changeStatus(call, messageId, (message, now) => refuseFail(message, botId, now, unclaimedGraceMs(this.env.UNCLAIMED_GRACE_MS)), (id) => this.log.setStatus(id, "failed", reason), true);
    if (failed.ok) this.streams.endFor(messageId);
    return failed;
  }

  /**
   * The text of a reply being written (do rooms; the bot holds a live claim on `replyTo`).
   * The stream has the id the finished reply will have; `reply` with that id ends it.
   */
  async stream(call: RoomCall, input: StreamCall): Promise<RoomResult<StreamAck>> {
    const found = await this.enterToAnswer(call, input.replyTo);
    if ("refusal" in found) return refused(found.refusal);
    const { human, now } = found;
    const same = this.view.get(input.id);
    if (same?.deleted) return refused(gone("id: "));
    if (same) return refused({ status: 409, error: "id: this reply is already in the room" });
    const holds = human.status === "processing" && human.claimedBy === input.botId && (human.leaseUntil ?? 0) > now;
    if (!holds) return refused({ status: 409, error: human.status === "complete" ? "message was already answered" : "claim the message before streaming its reply" });
    const ack = this.streams.write(input);
    // The alarm looks at the lease when it would run out: a bot that died leaves its stream "interrupted".
    void this.scheduleAlarm(human.leaseUntil!);
    return ok(ack);
  }

  /**
   * Adds an AI reply and completes its human message in one transaction. The same reply
   * id again answers the stored reply (and completes the human message if a crash left it
   * open); a second reply to one message, from any bot, is refused with 409.
   */
  async reply(call: RoomCall, input: NewReply): Promise<RoomResult<Stored & { human: Message }>> {
    const found = await this.enterToAnswer(call, input.replyTo);
    if ("refusal" in found) return refused(found.refusal);
    const { human, now } = found;
    const same = this.view.get(input.id);
    if (same?.deleted) return refused(gone("id: "));
    if (same && same.replyTo !== human.id) return refused({ status: 409, error: "id: already used by another message" });
    // A reply already in the log (e.g. merged from the kv path) answers the message, whatever its status says.
    const earlier = same ? null : this.view.replyTo(human.id);
    if (earlier) {
      if (human.status !== "complete") this.complete(human.id, now);
      return refused({ status: 409, error: `message was already answered by ${earlier.id}` });
    }
    // (A reply in the log was named above; a message completed elsewhere has none here.)
    const refusal = same ? null : refuseReply(human, input.botId, now, unclaimedGraceMs(this.env.UNCLAIMED_GRACE_MS));
    if (refusal) return refused(refusal);
    const frames: ServerFrame[] = [];
    const stored = this.ctx.storage.transactionSync(() => {
      const { message, created } = this.log.insert({
        id: input.id, room: this.roomName, kind: "ai", author: input.author, text: input.text,
        replyTo: human.id, status: "complete", createdAt: now, ...(input.stopped ? { stopped: true } : {}),
      });
      if (created) {
        this.owe(commentKey(message.id), now);
        frames.push({ type: "message", message });
      }
      if (human.status !== "complete") {
        this.log.setStatus(human.id, "complete");
        this.owe(commentKey(human.id), now);
      }
      const completed = this.log.get(human.id)!;
      if (human.status !== "complete") frames.push({ type: "update", message: completed });
      this.streams.dropFor(human.id);
      return { message, created, human: completed };
    });
    this.changed(frames);
    return ok(stored);
  }

  /** Admits a reply or a stream: the human message it answers, or why there is none to answer here. */
  private async enterToAnswer(call: RoomCall, replyTo: string): Promise<{ human: Message; now: number } | { refusal: RoomRefusal }> {
    const entered = await this.enter(call);
    if (entered) return { refusal: entered };
    const human = this.view.get(replyTo);
    if (!human) return { refusal: { status: 404, error: "replyTo: message not found in this room" } };
    if (human.deleted) return { refusal: gone("replyTo: ") };
    if (human.kind !== "human") return { refusal: { status: 400, error: "replyTo: must be a human message" } };
    return { human, now: Date.now() };
  }

  /** Marks a human message answered (its reply is in the log) and tells the sockets. */
  private complete(humanId: string, now: number): void {
    const completed = this.ctx.storage.transactionSync(() => {
      this.streams.dropFor(humanId);
      this.log.setStatus(humanId, "complete");
      this.owe(commentKey(humanId), now);
      return this.log.get(humanId)!;
    });
    this.changed([{ type: "update", message: completed }]);
  }

  /**
   * Operator deletion (do mode): the message becomes a tombstone in the log, its KV record
   * one through the outbox, and sockets get the tombstone as an `update`. A message the log
   * never had but whose KV record names this room (lost on the kv path) is deleted too, so
   * no heal brings it in. Deleting a tombstone answers it again.
   */
  async deleteMessage(call: RoomCall, id: string): Promise<RoomResult<Deleted>> {
    const refusal = await this.enter(call);
    if (refusal) return refused(refusal);
    const logged = this.view.get(id);
    if (logged?.deleted) return ok({ message: logged, deleted: false });
    const source = logged ?? (await this.recordOf(id, call.room));
    if (!source) return refused({ status: 404, error: "message not found in this room" });
    // Only a deletion that writes registers the room; the KV read may have seen it leave do mode.
    if (!(await this.admitWrites(call.room))) return refused(LEFT_DO_MODE);
    return ok(this.tombstone(source, Date.now()));
  }

  /**
   * kv mode: the Worker deleted a message on the kv path and leaves its tombstone here too,
   * so a later flip to do, which merges `cache:<room>` into this log, cannot bring it back.
   */
  async keepTombstone(room: string, tombstone: Message): Promise<Deleted> {
    this.setRoomName(room);
    const logged = this.view.get(tombstone.id);
    if (logged?.deleted) return { message: logged, deleted: false };
    return this.tombstone(tombstone, tombstone.deletedAt ?? Date.now());
  }

  private tombstone(message: Message, at: number): Deleted {
    this.ensureSchema();
    const tombstone = this.ctx.storage.transactionSync(() => {
      const logged = this.log.tombstone(message, at);
      // In kv mode the Worker writes the record itself.
      if (this.active) this.owe(commentKey(logged.id), at);
      return logged;
    });
    // A reply being written to a deleted message is dropped: viewers see it end, the bot's next call gets 410.
    this.streams.endFor(tombstone.id);
    this.changed([{ type: "update", message: tombstone }]);
    return { message: tombstone, deleted: true };
  }

  /** A message's KV record, if it belongs to this room. */
  private async recordOf(id: string, room: string): Promise<Message | null> {
    const record = await this.kv.get<Message>(commentKey(id), "json");
    return record && record.room === room ? record : null;
  }

  /**
   * The room is leaving do mode: stop taking do calls, write every owed KV record, then
   * the mirror (if this room owns it) so kv writers start from a current `cache:<room>`.
   * If KV refuses, the room takes do calls again and the error goes back to the flip,
   * which then leaves the flag unchanged: a room is never half-left.
   */
  async leaveDoMode(call: RoomCall): Promise<number> {
    const previous = { flagVersion: this.flagVersion, active: this.active };
    this.setRoomName(call.room);
    this.setMode(call.flagVersion, false);
    if (this.schema) this.streams.endAll();
    try {
      await this.flusher.flush(Number.POSITIVE_INFINITY, true);
      const mirrored = previous.active ? await this.writeMirror() : 0;
      // The flip tells the Control object; a later entry registers the room again.
      this.registered = false;
      this.remember("registered", false);
      return mirrored;
    } catch (err) {
      this.setMode(previous.flagVersion, previous.active);
      throw err;
    }
  }

  private setMode(flagVersion: number, active: boolean): void {
    this.flagVersion = flagVersion;
    this.active = active;
    this.remember("flagVersion", flagVersion);
    this.remember("active", active);
    this.broadcast({ type: "mode", mode: active ? "do" : "kv" });
  }

  /** Test and operator visibility: what the room holds, and how its KV writes are doing. */
  async inspect(): Promise<RoomInspection> {
    return {
      room: this.roomName,
      count: this.view.count(),
      lastSeq: this.view.lastSeq(),
      active: this.active,
      flagVersion: this.flagVersion,
      mirroredAt: this.mirroredAt,
      skippedOnReconcile: this.schema ? Number(this.meta.get("skippedOnReconcile") ?? 0) : 0,
      outbox: { pending: this.schema ? this.outbox.pending() : 0, ...this.flusher.stats() },
      usage: this.usage.snapshot(),
      streams: this.streams.stats(),
    };
  }

  // ---- WebSockets (hibernation API) ----

  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return Response.json({ error: "expected a WebSocket upgrade" }, { status: 426 });
    }
    const call = { room: this.roomName, flagVersion: Number(request.headers.get(FLAG_VERSION_HEADER) ?? -1) };
    let mode: CacheMode = "kv";
    if (request.headers.get(ROOM_MODE_HEADER) === "do") mode = (await this.enter(call)) ? "kv" : "do";
    else this.usage.count("requests"); // (in do mode, enter counts it)
    const { 0: client, 1: server } = new WebSocketPair();
    const key = request.headers.get(CLIENT_KEY_HEADER) ?? UNKNOWN_CLIENT;
    const refusal = capRefusal(this.ctx, key, isExempt(this.env, key), socketLimits(this.env));
    if (refusal) {
      // Accepted outside the hibernation API, so it never counts among the room's sockets.
      server.accept();
      server.close(refusal.code, refusal.reason);
      return new Response(null, { status: 101, webSocket: client });
    }
    this.ctx.acceptWebSocket(server, [clientTag(key)]);
    // The call rides along: a never-written room keeps its mode in memory only, and may hibernate.
    server.serializeAttachment({ key, ...(mode === "do" ? { call } : {}) } satisfies SocketClient);
    const streams = mode === "do" ? this.streams.list() : [];
    server.send(JSON.stringify({ type: "hello", room: this.roomName, lastSeq: this.view.lastPos(), mode, ...(streams.length ? { streams } : {}) } satisfies ServerFrame));
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    this.usage.count("socketMessages");
    const turn = (this.socketTurns.get(ws) ?? Promise.resolve()).then(() => this.answerFrame(ws, data));
    this.socketTurns.set(ws, turn.catch(() => undefined));
    await turn;
  }

  private async answerFrame(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const client = socketClient(ws);
    // Woken from hibernation with no tables: the socket's call restores the mode (a read; nothing is written).
    if (!this.schema && client?.call && client.call.flagVersion > this.flagVersion) await this.enter(client.call, false, false).catch(() => null);
    const answer: SocketAnswer = await handleClientFrame(data, {
      active: () => this.active,
      leftDoMode: LEFT_DO_MODE,
      known: (id) => this.view.get(id),
      // A socket from before sockets carried their client is not counted (it reconnects soon enough).
      limit: async () => this.roomFull() ?? (client ? ((await limitPost(this.env, client.key)) ?? (this.isNew() ? await this.limitCreation(client.key) : null)) : null),
      admit: () => this.admitWrites(this.roomName),
      stop: (id) => this.streams.requestStop(id),
      store: (input) => {
        const stored = this.storeHuman(input);
        if (stored.created) this.stats.record(this.env, (p) => this.ctx.waitUntil(p), { type: "post", mode: "do", kind: "human" });
        return stored;
      },
    });
    // The answer goes out before the pushes of the change it reports (they wait for the next turn).
    if (answer.type === "close") ws.close(answer.code, answer.reason);
    else if (answer.type === "send") ws.send(JSON.stringify(answer.frame));
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    try {
      ws.close(code, reason);
    } catch {
      // already closed
    }
  }

  // ---- KV: outbox and mirror ----

  /** Backstop for everything the post-answer flush could not do: due outbox rows, then the mirror. */
  override async alarm(): Promise<void> {
    this.usage.count("alarms");
    this.alarmAt = null;
    if (!this.schema) return;
    await this.flusher.flush(Date.now(), false);
    const retentionAt = this.enforceRetention(Date.now());
    const leaseCheckAt = this.interruptLapsedStreams(Date.now());
    // Every alarm is set at least a second after the last mirror, so this keeps KV's one write a second per key.
    if (this.active && this.mirrorDirty) await this.writeMirror();
    const now = Date.now();
    const due = this.outbox.nextDue();
    const next = [
      // Rows due now are being flushed by the post-answer loop; check back on them in a while.
      due === null ? null : Math.max(due, now + MIRROR_INTERVAL_MS),
      this.active && this.mirrorDirty ? Math.max(now, this.mirroredAt + MIRROR_INTERVAL_MS) : null,
      retentionAt,
      leaseCheckAt,
    ].filter((at): at is number => at !== null);
    if (next.length) await this.scheduleAlarm(Math.min(...next));
  }

  /** A stream whose bot's lease ran out is marked interrupted; answers when the next lease to watch ends. */
  private interruptLapsedStreams(now: number): number | null {
    return this.streams.interruptLapsed((stream) => {
      const human = this.log.get(stream.replyTo);
      const held = human?.status === "processing" && human.claimedBy === stream.botId;
      return held ? (human.leaseUntil ?? null) : null;
    }, now);
  }

  /**
   * Deletes (with their claims) up to RETENTION_BATCH messages older than ROOM_RETENTION_DAYS,
   * oldest first; answers when to look again (null: retention off, or nothing logged).
   */
  private enforceRetention(now: number): number | null {
    const { retentionMs } = this.limits;
    if (!retentionMs) return null;
    const ids = this.log.expired(now - retentionMs, now, RETENTION_BATCH);
    if (ids.length) {
      this.ctx.storage.transactionSync(() => this.log.remove(ids));
      this.mirrorDirty = true;
      console.log(JSON.stringify({ event: "retention", room: this.roomName, deleted: ids.length }));
    }
    if (ids.length === RETENTION_BATCH) return now + MIRROR_INTERVAL_MS;
    const oldest = this.log.oldestCreatedAt();
    if (oldest === null) return null;
    return oldest + retentionMs > now ? oldest + retentionMs : now + RETENTION_RECHECK_MS;
  }

  private async writeMirror(): Promise<number> {
    // A never-written room owns no mirror: whatever `cache:<room>` holds stays as it is.
    if (!this.roomName || !this.schema) return 0;
    // Stamped before the put so a change during it schedules the next mirror a second later.
    this.mirroredAt = Date.now();
    this.mirrorDirty = false;
    const recent = this.view.recent(CACHE_SIZE);
    try {
      await this.kv.put(cacheKey(this.roomName), JSON.stringify(recent));
    } catch (err) {
      this.mirrorDirty = true;
      throw err;
    }
    return recent.length;
  }

  private async scheduleAlarm(at: number): Promise<void> {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    this.usage.count("alarmsSet");
    await this.ctx.storage.setAlarm(at);
  }

  // ---- internals ----

  /** Queues a KV write; the caller is inside the transaction of the change it reports. */
  private owe(key: string, now: number): void {
    this.outbox.enqueue(key, now);
    // The backstop alarm commits with the row, so a crash before the post-answer flush still ends in a write.
    void this.scheduleAlarm(Math.max(now, this.mirroredAt) + MIRROR_INTERVAL_MS);
    if (!this.marked) {
      this.outbox.enqueue(roomKey(this.roomName), now);
      this.remember("marked", true);
      this.marked = true;
    }
  }

  private storeHuman(input: NewHumanMessage): Stored {
    const existing = this.view.get(input.id);
    if (existing) return { message: existing, created: false };
    this.ensureSchema();
    const now = Date.now();
    const message = this.ctx.storage.transactionSync(() => {
      const { message } = this.log.insert({ ...input, room: this.roomName, kind: "human", status: "pending", createdAt: now });
      this.owe(commentKey(message.id), now);
      return message;
    });
    this.changed([{ type: "message", message }]);
    return { message, created: true };
  }

  private async changeStatus(
    call: RoomCall,
    messageId: string,
    refuse: (message: Message, now: number) => Refusal | null,
    apply: (id: string, now: number) => void,
    recordIt: boolean,
  ): Promise<RoomResult<Message>> {
    const refusal = await this.enter(call);
    if (refusal) return refused(refusal);
    const now = Date.now();
    const message = this.view.get(messageId);
    if (!message) return refused({ status: 404, error: "message not found in this room" });
    if (message.deleted) return refused(gone());
    const refusedBy = refuse(message, now);
    if (refusedBy) return refused(refusedBy);
    const changed = this.ctx.storage.transactionSync(() => {
      apply(messageId, now);
      if (recordIt) this.owe(commentKey(messageId), now);
      return this.log.get(messageId)!;
    });
    this.changed([{ type: "update", message: changed }]);
    return ok(changed);
  }

  /** After a committed change: push it, then let KV catch up without holding the answer. */
  private changed(frames: ServerFrame[]): void {
    if (!frames.length) return;
    for (const frame of frames) this.broadcast(frame);
    if (this.active) {
      this.mirrorDirty = true;
      void this.scheduleAlarm(Math.max(Date.now(), this.mirroredAt + MIRROR_INTERVAL_MS));
    }
    this.flusher.kick();
  }

  private broadcast(frame: ServerFrame): void {
    this.pushes.push(frame);
  }

  private setRoomName(room: string): void {
    if (!room || this.roomName === room) return;
    this.roomName = room;
    this.remember("room", room);
  }

  /** The log to read: the real one once the room has tables, else an empty one. */
  private get view(): LogReader {
    return this.schema ? this.log : EMPTY_LOG;
  }

  /** Keeps a bookkeeping value; a room without tables keeps it in memory until its first write. */
  private remember(key: string, value: string | number | boolean): void {
    if (this.schema) this.meta.set(key, value);
  }

  /** The first write gives the room its tables, and stores what it kept in memory until then. */
  private ensureSchema(): void {
    if (this.schema) return;
    this.ctx.storage.transactionSync(() => {
      applyMigrations(this.sql, MIGRATIONS);
      if (this.roomName) this.meta.set("room", this.roomName);
      this.meta.set("flagVersion", this.flagVersion);
      this.meta.set("active", this.active);
      this.meta.set("registered", this.registered);
    });
    this.schema = true;
  }

  /**
   * One ROOM_LIMITER check per client while the room is new: a burst of first sends (they
   * interleave at the await) creates one room, so it must not count as many creations.
   */
  private limitCreation(creator: string): Promise<PostLimited | null> {
    if (this.creationAllowed.has(creator)) return Promise.resolve(null);
    let check = this.creationChecks.get(creator);
    if (!check) {
      check = limitNewRoom(this.env, creator).then((limited) => {
        this.creationChecks.delete(creator);
        if (!limited) this.creationAllowed.add(creator);
        return limited;
      });
      this.creationChecks.set(creator, check);
    }
    return check;
  }

  /** A room that has never had a message: its first one is a room creation (ROOM_LIMITER). */
  private isNew(): boolean {
    return !this.schema || (!this.marked && this.log.lastPos() === 0);
  }

  /**
   * ROOM_MAX_MESSAGES reached: new human messages are refused (507) and nothing acknowledged
   * is deleted to make room; replies and heals of messages already acknowledged still land.
   */
  private roomFull(): RoomRefusal | null {
    const { maxMessages, retentionMs } = this.limits;
    if (!maxMessages || this.view.count() < maxMessages) return null;
    const later = retentionMs ? `; space frees up as messages older than ${Math.round(retentionMs / 86_400_000)} days are deleted` : "";
    return { status: 507, error: `room is full: it holds ${maxMessages} messages, the most a room keeps${later}` };
  }

  /**
   * Admits a do-mode call. First use, or first use under a newer flag version: merge
   * `cache:<room>` into the log (the room may have been in kv mode) and own the mirror.
   * A room that has left do mode refuses, so the caller reruns the call on the kv path.
   */
  private async enter(call: RoomCall, writes = false, request = true): Promise<RoomRefusal | null> {
    // Every RPC call on the message path enters here: one Durable Object request each (a socket frame is counted as a message).
    if (request) this.usage.count("requests");
    if (call.flagVersion > this.flagVersion) await this.reconcile(call);
    // A room with tables registers on any call (also one active since before flips were
    // tracked); a never-written room's reads leave no trace in the Control object.
    if ((writes || this.schema) && !(await this.admitWrites(call.room))) return LEFT_DO_MODE;
    return this.active ? null : LEFT_DO_MODE;
  }

  /** Before a do room holds anything a flip must flush: listed with the Control object, or out of do mode. */
  private async admitWrites(room: string): Promise<boolean> {
    if (!this.active) return false;
    if (this.registered) return true;
    if (await this.register(room)) return true;
    await this.leaveDoMode({ room, flagVersion: this.flagVersion });
    return false;
  }

  /**
   * Asks the Control object to list this room among the do rooms a flip must flush,
   * before it takes a do call. Refused when the flag (or a flip in progress) puts the
   * room in kv mode: a stale call must not pull a kv room back into do mode.
   */
  private async register(room: string, record = true): Promise<boolean> {
    const { admitted, version } = await this.env.CONTROL.getByName("global").roomEntered(room, record);
    if (admitted && record) {
      this.registered = true;
      this.remember("registered", true);
    } else if (!admitted && version > this.flagVersion) {
      this.flagVersion = version;
      this.remember("flagVersion", version);
    }
    return admitted;
  }

  private async reconcile(call: RoomCall): Promise<void> {
    let failure: unknown = null;
    await this.ctx.blockConcurrencyWhile(async () => {
      if (call.flagVersion <= this.flagVersion) return;
      try {
        const cached = await this.kv.get<unknown[]>(cacheKey(call.room), "json");
        const entries = Array.isArray(cached) ? cached : [];
        // A never-written room with nothing to merge only asks whether it may take do calls;
        // it is listed on its first write.
        if (!(await this.register(call.room, this.schema || entries.length > 0))) return;
        if (entries.length) this.ensureSchema();
        const finished = this.schema ? await this.finishedElsewhere() : [];
        const merged = this.merge(call, entries, finished);
        this.active = true;
        this.mirrorDirty = true;
        // The merge may have changed the log (statuses finished on the kv path) with no later change to write the mirror.
        await this.scheduleAlarm(Math.max(Date.now(), this.mirroredAt + MIRROR_INTERVAL_MS));
        this.broadcast({ type: "mode", mode: "do" });
        for (const message of merged) this.broadcast({ type: "message", message });
      } catch (err) {
        // Thrown outside blockConcurrencyWhile, so one bad read fails this call, not the object.
        failure = err;
      }
    });
    if (failure) throw failure;
  }

  /**
   * Human messages this log still has open that the kv path finished meanwhile (their KV
   * record says complete or failed): the cache may no longer hold them, their record does.
   */
  private async finishedElsewhere(): Promise<Message[]> {
    const open = this.log.unfinishedHumanIds(MAX_BATCH * 5);
    const finished: Message[] = [];
    for (let i = 0; i < open.length; i += MAX_BATCH) {
      const records = await this.kv.get<Message>(open.slice(i, i + MAX_BATCH).map(commentKey), "json");
      for (const record of records.values()) if (record && (record.status === "complete" || record.status === "failed")) finished.push(record);
    }
    return finished;
  }

  /** Adds valid cached entries missing from the log (tombstones as tombstones); invalid ones are skipped and counted. */
  private merge(call: RoomCall, cached: unknown[], finishedElsewhere: Message[] = []): Message[] {
    const valid: Message[] = [];
    let skipped = 0;
    for (const entry of cached) {
      const parsed = storedMessageSchema.safeParse(entry);
      if (parsed.success && parsed.data.room === call.room) valid.push(parsed.data);
      else skipped++;
    }
    return this.ctx.storage.transactionSync(() => {
      this.setRoomName(call.room);
      const merged: Message[] = [];
      for (const message of valid.sort((a, b) => a.createdAt - b.createdAt)) {
        // A kv-mode deletion: the log keeps (or becomes) its tombstone; the words never come back.
        if (message.deleted) {
          if (!this.log.get(message.id)?.deleted) this.log.tombstone(message, message.deletedAt ?? Date.now());
          continue;
        }
        const { message: logged, created } = this.log.insert(message);
        // A lease taken on the kv path survives the flip: its bot's answer is still its to give.
        const leased = created && message.status === "processing" && message.claimedBy && message.leaseUntil;
        if (leased) this.log.setClaim(message.id, message.claimedBy!, message.leaseUntil!);
        if (created) merged.push(leased ? this.log.get(message.id)! : logged);
        const finished = message.status === "complete" || message.status === "failed";
        if (!created && !logged.deleted && finished && logged.status !== message.status) this.log.setStatus(message.id, message.status, message.error ?? null);
      }
      // A merged reply answers its message even when the message itself was outside the cache's window.
      for (const reply of valid) {
        const human = reply.kind === "ai" && reply.replyTo ? this.log.get(reply.replyTo) : null;
        if (human && !human.deleted && human.status !== "complete") this.log.setStatus(human.id, "complete");
      }
      for (const record of finishedElsewhere) {
        const logged = this.log.get(record.id);
        if (logged && !logged.deleted && logged.status !== record.status) this.log.setStatus(record.id, record.status, record.error ?? null);
      }
      if (skipped) this.meta.set("skippedOnReconcile", Number(this.meta.get("skippedOnReconcile") ?? 0) + skipped);
      this.flagVersion = call.flagVersion;
      this.remember("flagVersion", call.flagVersion);
      this.remember("active", true);
      return merged;
    });
  }
}
