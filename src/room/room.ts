// The Room Durable Object: one per room, single-threaded, the only authority for a
// `do` room. A post, socket send, reply, claim, release, failure or heal is one call
// here: validate, dedupe by id, change SQLite in one transaction (with the outbox rows
// for KV), push, answer. KV records and the `cache:<room>` mirror are written after
// the answer, from the outbox and by alarm, so KV never sits on the write path.
import { DurableObject } from "cloudflare:workers";
import { StatsBatch } from "../control/stats-batch";
import { PING_FRAME, PONG_FRAME, type ServerFrame } from "../shared/frames";
import { commentKey } from "../shared/keys";
import { refuseClaim, refuseFail, refuseRelease, refuseReply, unclaimedGraceMs, type Refusal } from "../shared/leases";
import { type CacheMode, type Message } from "../shared/message";
import { handleClientFrame, type SocketAnswer } from "./socket-frames";
import { Broadcaster } from "./broadcast";
import { capRefusal, clientTag, socketClient, socketLimits, type SocketClient } from "./socket-caps";
import { UNKNOWN_CLIENT, isExempt } from "../limits/client-key";
import { limitPost, type PostLimited } from "../limits/post-limit";
import { limitNewRoom } from "../limits/room-limit";
import { Usage } from "../storage/usage";
import type { UsageCounts } from "../shared/usage";
import type { StreamAck, StreamCall, StreamStats } from "../shared/stream";
import { LiveStreams } from "./streams";
import { AlarmSchedule } from "./alarms";
import { KvSync, type OutboxStats } from "./kv-sync";
import { enforceRetention } from "./retention-sweep";
import { RoomState } from "./room-state";
import { Flips } from "./flips";
import { LEFT_DO_MODE, gone, ok, refused, type Deleted, type NewHumanMessage, type NewReply, type RoomCall, type RoomRefusal, type RoomResult, type Stored } from "./calls";

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

/** Headers the Worker adds when it hands a socket upgrade to the room (its name the room knows: `ctx.id.name`). */
export const FLAG_VERSION_HEADER = "x-flag-version";
export const ROOM_MODE_HEADER = "x-room-mode";
/** The client's key (src/worker/client-key.ts): its sockets and sends are counted by it. */
export const CLIENT_KEY_HEADER = "x-client-key";

export class Room extends DurableObject<Env> {
  private readonly usage = new Usage();
  private readonly state: RoomState;
  private readonly alarms: AlarmSchedule;
  private readonly kvSync: KvSync;
  /** This object's own stats batch (see StatsBatch: never shared with the Worker's). */
  private readonly stats = new StatsBatch();
  /** ROOM_LIMITER checks in flight, and clients already allowed to create this room (see limitCreation). */
  private creationChecks = new Map<string, Promise<PostLimited | null>>();
  private creationAllowed = new Set<string>();
  private readonly pushes: Broadcaster;
  private readonly streams: LiveStreams;
  private readonly flips: Flips;
  /** Each socket's frames are answered in the order sent, though the post limit is awaited. */
  private readonly socketTurns = new WeakMap<WebSocket, Promise<unknown>>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const state = (this.state = new RoomState(ctx, env, this.usage));
    this.alarms = new AlarmSchedule(ctx.storage, this.usage);
    this.kvSync = new KvSync(state, this.alarms);
    this.pushes = new Broadcaster(() => ctx.getWebSockets());
    this.streams = new LiveStreams(state.sql, (frame) => this.broadcast(frame));
    this.flips = new Flips({ state, kvSync: this.kvSync, streams: this.streams, usage: this.usage, env, broadcast: (frame) => this.broadcast(frame) });
    ctx.blockConcurrencyWhile(async () => {
      // A read or a socket must not create anything: a never-written room reads as empty.
      if (!state.load()) return;
      this.streams.load();
      // After a restart the last mirror may be older than the log: write one soon.
      if (state.active) this.kvSync.markDirty();
      const alarmSet = await this.alarms.load();
      // Owed writes, or (rooms from before retention) messages retention must look at.
      const retentionDue = state.limits.retentionMs > 0 && state.log.oldestCreatedAt() !== null;
      if (!alarmSet && (state.outbox.pending() > 0 || retentionDue)) await this.alarms.schedule(Date.now());
    });
    // Pings are answered by the runtime without waking a hibernated room.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
  }

  // ---- RPC methods called by the Worker (do mode) ----

  /** A human message: stored once per id; a known id answers the stored message. */
  async post(call: RoomCall, input: NewHumanMessage, creator?: string): Promise<RoomResult<Stored>> {
    const refusal = await this.flips.enter(call);
    if (refusal) return refused(refusal);
    const known = this.state.view.get(input.id);
    if (known?.deleted) return refused(gone("id: "));
    if (known) return ok({ message: known, created: false });
    // `creator`: the client key a new room counts against (none for bot and operator tokens).
    const limited = this.roomFull() ?? (creator !== undefined && this.isNew() ? await this.limitCreation(creator) : null);
    if (limited) return refused(limited);
    if (!(await this.flips.admitWrites(call.room))) return refused(LEFT_DO_MODE);
    return ok(this.storeHuman(input));
  }

  /** One message of this room, straight from the log (a just-acknowledged post is readable at once). */
  async get(call: RoomCall, id: string): Promise<RoomResult<Message>> {
    const refusal = await this.flips.enter(call);
    if (refusal) return refused(refusal);
    const message = this.state.view.get(id);
    if (message?.deleted) return refused(gone());
    return message ? ok(message) : refused({ status: 404, error: "message not found in this room" });
  }

  async list(call: RoomCall, limit: number, since?: number): Promise<RoomResult<{ comments: Message[]; lastSeq: number }>> {
    const refusal = await this.flips.enter(call);
    if (refusal) return refused(refusal);
    const comments = since === undefined ? this.state.view.recent(limit) : this.state.view.after(since, limit);
    // `lastSeq` is the room's change position: the `since` that continues from here.
    return ok({ comments, lastSeq: this.state.view.lastPos() });
  }

  /** Scroll-back: the page of messages logged before `before` (a `seq`), oldest first; `more` when older ones remain. */
  async listBefore(call: RoomCall, before: number, limit: number): Promise<RoomResult<{ comments: Message[]; lastSeq: number; more: boolean }>> {
    const refusal = await this.flips.enter(call);
    if (refusal) return refused(refusal);
    const { messages, more } = this.state.view.before(before, limit);
    return ok({ comments: messages, lastSeq: this.state.view.lastPos(), more });
  }

  /** Re-adds a message from its KV record; re-adding an AI reply also completes its human message. */
  async heal(call: RoomCall, record: Message): Promise<RoomResult<{ message: Message; readded: boolean }>> {
    const refusal = await this.flips.enter(call, true);
    if (refusal) return refused(refusal);
    // The record may not say so yet (KV lags the log): the log's tombstone decides.
    if (record.deleted || this.state.view.get(record.id)?.deleted) return refused(gone());
    this.state.ensureSchema();
    const now = Date.now();
    const frames: ServerFrame[] = [];
    const message = this.state.transaction(() => {
      const { message, created } = this.state.log.insert(record);
      if (created) {
        this.kvSync.owe(commentKey(message.id), now);
        frames.push({ type: "message", message });
      }
      const human = message.replyTo ? this.state.log.get(message.replyTo) : null;
      if (human) this.streams.dropFor(human.id);
      if (human && human.kind === "human" && !human.deleted && human.status !== "complete") {
        this.state.log.setStatus(human.id, "complete");
        this.kvSync.owe(commentKey(human.id), now);
        frames.push({ type: "update", message: this.state.log.get(human.id)! });
      }
      return { message, readded: created };
    });
    this.changed(frames);
    return ok(message);
  }

  async pending(call: RoomCall): Promise<RoomResult<Message[]>> {
    const refusal = await this.flips.enter(call);
    if (refusal) return refused(refusal);
    return ok(this.state.view.claimable(Date.now()));
  }

  /** Atomic lease (rules in shared/leases.ts). */
  async claim(call: RoomCall, messageId: string, botId: string, leaseMs: number): Promise<RoomResult<Message>> {
    return this.changeStatus(call, messageId, (message, now) => refuseClaim(message, botId, now), (id, now) => this.state.log.setClaim(id, botId, now + leaseMs), false);
  }

  async release(call: RoomCall, messageId: string, botId: string): Promise<RoomResult<Message>> {
    const released = await this.changeStatus(call, messageId, (message) => refuseRelease(message, botId), (id) => this.state.log.setStatus(id, "pending"), false);
    if (released.ok) this.streams.interruptFor(messageId);
    return released;
  }

  async fail(call: RoomCall, messageId: string, botId: string, reason: string): Promise<RoomResult<Message>> {
    const failed = await this.changeStatus(call, messageId, (message, now) => refuseFail(message, botId, now, unclaimedGraceMs(this.env.UNCLAIMED_GRACE_MS)), (id) => this.state.log.setStatus(id, "failed", reason), true);
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
    const same = this.state.view.get(input.id);
    if (same?.deleted) return refused(gone("id: "));
    if (same) return refused({ status: 409, error: "id: this reply is already in the room" });
    const holds = human.status === "processing" && human.claimedBy === input.botId && (human.leaseUntil ?? 0) > now;
    if (!holds) return refused({ status: 409, error: human.status === "complete" ? "message was already answered" : "claim the message before streaming its reply" });
    const ack = this.streams.write(input);
    // The alarm looks at the lease when it would run out: a bot that died leaves its stream "interrupted".
    void this.alarms.schedule(human.leaseUntil!);
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
    const same = this.state.view.get(input.id);
    if (same?.deleted) return refused(gone("id: "));
    if (same && same.replyTo !== human.id) return refused({ status: 409, error: "id: already used by another message" });
    // A reply already in the log (e.g. merged from the kv path) answers the message, whatever its status says.
    const earlier = same ? null : this.state.view.replyTo(human.id);
    if (earlier) {
      if (human.status !== "complete") this.complete(human.id, now);
      return refused({ status: 409, error: `message was already answered by ${earlier.id}` });
    }
    // (A reply in the log was named above; a message completed elsewhere has none here.)
    const refusal = same ? null : refuseReply(human, input.botId, now, unclaimedGraceMs(this.env.UNCLAIMED_GRACE_MS));
    if (refusal) return refused(refusal);
    const frames: ServerFrame[] = [];
    const stored = this.state.transaction(() => {
      const { message, created } = this.state.log.insert({
        id: input.id, room: this.state.roomName, kind: "ai", author: input.author, text: input.text,
        replyTo: human.id, status: "complete", createdAt: now, ...(input.stopped ? { stopped: true } : {}),
      });
      if (created) {
        this.kvSync.owe(commentKey(message.id), now);
        frames.push({ type: "message", message });
      }
      if (human.status !== "complete") {
        this.state.log.setStatus(human.id, "complete");
        this.kvSync.owe(commentKey(human.id), now);
      }
      const completed = this.state.log.get(human.id)!;
      if (human.status !== "complete") frames.push({ type: "update", message: completed });
      this.streams.dropFor(human.id);
      return { message, created, human: completed };
    });
    this.changed(frames);
    return ok(stored);
  }

  /** Admits a reply or a stream: the human message it answers, or why there is none to answer here. */
  private async enterToAnswer(call: RoomCall, replyTo: string): Promise<{ human: Message; now: number } | { refusal: RoomRefusal }> {
    const entered = await this.flips.enter(call);
    if (entered) return { refusal: entered };
    const human = this.state.view.get(replyTo);
    if (!human) return { refusal: { status: 404, error: "replyTo: message not found in this room" } };
    if (human.deleted) return { refusal: gone("replyTo: ") };
    if (human.kind !== "human") return { refusal: { status: 400, error: "replyTo: must be a human message" } };
    return { human, now: Date.now() };
  }

  /** Marks a human message answered (its reply is in the log) and tells the sockets. */
  private complete(humanId: string, now: number): void {
    const completed = this.state.transaction(() => {
      this.streams.dropFor(humanId);
      this.state.log.setStatus(humanId, "complete");
      this.kvSync.owe(commentKey(humanId), now);
      return this.state.log.get(humanId)!;
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
    const refusal = await this.flips.enter(call);
    if (refusal) return refused(refusal);
    const logged = this.state.view.get(id);
    if (logged?.deleted) return ok({ message: logged, deleted: false });
    const source = logged ?? (await this.recordOf(id, call.room));
    if (!source) return refused({ status: 404, error: "message not found in this room" });
    // Only a deletion that writes registers the room; the KV read may have seen it leave do mode.
    if (!(await this.flips.admitWrites(call.room))) return refused(LEFT_DO_MODE);
    return ok(this.tombstone(source, Date.now()));
  }

  /**
   * kv mode: the Worker deleted a message on the kv path and leaves its tombstone here too,
   * so a later flip to do, which merges `cache:<room>` into this log, cannot bring it back.
   */
  async keepTombstone(room: string, tombstone: Message): Promise<Deleted> {
    this.state.setRoomName(room);
    const logged = this.state.view.get(tombstone.id);
    if (logged?.deleted) return { message: logged, deleted: false };
    return this.tombstone(tombstone, tombstone.deletedAt ?? Date.now());
  }

  private tombstone(message: Message, at: number): Deleted {
    this.state.ensureSchema();
    const tombstone = this.state.transaction(() => {
      const logged = this.state.log.tombstone(message, at);
      // In kv mode the Worker writes the record itself.
      if (this.state.active) this.kvSync.owe(commentKey(logged.id), at);
      return logged;
    });
    // A reply being written to a deleted message is dropped: viewers see it end, the bot's next call gets 410.
    this.streams.endFor(tombstone.id);
    this.changed([{ type: "update", message: tombstone }]);
    return { message: tombstone, deleted: true };
  }

  /** A message's KV record, if it belongs to this room. */
  private async recordOf(id: string, room: string): Promise<Message | null> {
    const record = await this.state.kv.get<Message>(commentKey(id), "json");
    return record && record.room === room ? record : null;
  }

  /** A flip to kv: stop taking do calls, write everything owed to KV, then the mirror (flips.ts). */
  async leaveDoMode(call: RoomCall): Promise<number> {
    return this.flips.leaveDoMode(call);
  }

  /** Test and operator visibility: what the room holds, and how its KV writes are doing. */
  async inspect(): Promise<RoomInspection> {
    return {
      room: this.state.roomName,
      count: this.state.view.count(),
      lastSeq: this.state.view.lastSeq(),
      active: this.state.active,
      flagVersion: this.state.flagVersion,
      mirroredAt: this.kvSync.mirroredAt,
      skippedOnReconcile: this.state.schema ? Number(this.state.meta.get("skippedOnReconcile") ?? 0) : 0,
      outbox: this.kvSync.stats(),
      usage: this.usage.snapshot(),
      streams: this.streams.stats(),
    };
  }

  // ---- WebSockets (hibernation API) ----

  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return Response.json({ error: "expected a WebSocket upgrade" }, { status: 426 });
    }
    const call = { room: this.state.roomName, flagVersion: Number(request.headers.get(FLAG_VERSION_HEADER) ?? -1) };
    let mode: CacheMode = "kv";
    if (request.headers.get(ROOM_MODE_HEADER) === "do") mode = (await this.flips.enter(call)) ? "kv" : "do";
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
    server.send(JSON.stringify({ type: "hello", room: this.state.roomName, lastSeq: this.state.view.lastPos(), mode, ...(streams.length ? { streams } : {}) } satisfies ServerFrame));
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
    if (!this.state.schema && client?.call && client.call.flagVersion > this.state.flagVersion) await this.flips.enter(client.call, false, false).catch(() => null);
    const answer: SocketAnswer = await handleClientFrame(data, {
      active: () => this.state.active,
      leftDoMode: LEFT_DO_MODE,
      known: (id) => this.state.view.get(id),
      // A socket from before sockets carried their client is not counted (it reconnects soon enough).
      limit: async () => this.roomFull() ?? (client ? ((await limitPost(this.env, client.key)) ?? (this.isNew() ? await this.limitCreation(client.key) : null)) : null),
      admit: () => this.flips.admitWrites(this.state.roomName),
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
    this.alarms.fired();
    if (!this.state.schema) return;
    await this.kvSync.flush(Date.now(), false);
    const retentionAt = enforceRetention(this.state, Date.now(), () => this.kvSync.markDirty());
    const leaseCheckAt = this.interruptLapsedStreams(Date.now());
    const next = [...(await this.kvSync.onAlarm()), retentionAt, leaseCheckAt].filter((at): at is number => at !== null);
    if (next.length) await this.alarms.schedule(Math.min(...next));
  }

  /** A stream whose bot's lease ran out is marked interrupted; answers when the next lease to watch ends. */
  private interruptLapsedStreams(now: number): number | null {
    return this.streams.interruptLapsed((stream) => {
      const human = this.state.log.get(stream.replyTo);
      const held = human?.status === "processing" && human.claimedBy === stream.botId;
      return held ? (human.leaseUntil ?? null) : null;
    }, now);
  }

  // ---- internals ----

  private storeHuman(input: NewHumanMessage): Stored {
    const existing = this.state.view.get(input.id);
    if (existing) return { message: existing, created: false };
    this.state.ensureSchema();
    const now = Date.now();
    const message = this.state.transaction(() => {
      const { message } = this.state.log.insert({ ...input, room: this.state.roomName, kind: "human", status: "pending", createdAt: now });
      this.kvSync.owe(commentKey(message.id), now);
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
    const refusal = await this.flips.enter(call);
    if (refusal) return refused(refusal);
    const now = Date.now();
    const message = this.state.view.get(messageId);
    if (!message) return refused({ status: 404, error: "message not found in this room" });
    if (message.deleted) return refused(gone());
    const refusedBy = refuse(message, now);
    if (refusedBy) return refused(refusedBy);
    const changed = this.state.transaction(() => {
      apply(messageId, now);
      if (recordIt) this.kvSync.owe(commentKey(messageId), now);
      return this.state.log.get(messageId)!;
    });
    this.changed([{ type: "update", message: changed }]);
    return ok(changed);
  }

  /** After a committed change: push it, then let KV catch up without holding the answer. */
  private changed(frames: ServerFrame[]): void {
    if (!frames.length) return;
    for (const frame of frames) this.broadcast(frame);
    this.kvSync.changed();
  }

  private broadcast(frame: ServerFrame): void {
    this.pushes.push(frame);
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
    return !this.state.schema || (!this.state.marked && this.state.log.lastPos() === 0);
  }

  /**
   * ROOM_MAX_MESSAGES reached: new human messages are refused (507) and nothing acknowledged
   * is deleted to make room; replies and heals of messages already acknowledged still land.
   */
  private roomFull(): RoomRefusal | null {
    const { maxMessages, retentionMs } = this.state.limits;
    if (!maxMessages || this.state.view.count() < maxMessages) return null;
    const later = retentionMs ? `; space frees up as messages older than ${Math.round(retentionMs / 86_400_000)} days are deleted` : "";
    return { status: 507, error: `room is full: it holds ${maxMessages} messages, the most a room keeps${later}` };
  }
}
