// The Room Durable Object: one per room, single-threaded, the only authority for a
// `do` room. A post, socket send, reply, claim, release, failure or heal is one call
// here: validate, dedupe by id, change SQLite in one transaction (with the outbox rows
// for KV), push, answer. KV records and the `cache:<room>` mirror are written after
// the answer, from the outbox and by alarm, so KV never sits on the write path.
import { DurableObject } from "cloudflare:workers";
import { StatsBatch } from "../control/stats-batch";
import { PING_FRAME, PONG_FRAME, type ServerFrame } from "../shared/frames";
import { type CacheMode, type Message } from "../shared/message";
import { handleClientFrame, type SocketAnswer } from "./socket-frames";
import { Broadcaster } from "./broadcast";
import { capRefusal, clientTag, socketClient, socketLimits, type SocketClient } from "./socket-caps";
import { UNKNOWN_CLIENT, isExempt } from "../limits/client-key";
import { limitPost } from "../limits/post-limit";
import { Usage } from "../storage/usage";
import type { UsageCounts } from "../shared/usage";
import type { StreamAck, StreamCall, StreamStats } from "../shared/stream";
import { LiveStreams } from "./streams";
import { AlarmSchedule } from "./alarms";
import { KvSync, type OutboxStats } from "./kv-sync";
import { enforceRetention } from "./retention-sweep";
import { RoomState } from "./room-state";
import { Flips } from "./flips";
import { RoomAdmission } from "./admission";
import { Messages, type LogOpsDeps } from "./messages";
import { Answers } from "./answers";
import { LEFT_DO_MODE, type Deleted, type NewHumanMessage, type NewReply, type RoomCall, type RoomResult, type Stored } from "./calls";

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
  private readonly admission: RoomAdmission;
  private readonly pushes: Broadcaster;
  private readonly streams: LiveStreams;
  private readonly flips: Flips;
  private readonly messages: Messages;
  private readonly answers: Answers;
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
    this.admission = new RoomAdmission(state, env);
    const ops: LogOpsDeps = {
      state, flips: this.flips, kvSync: this.kvSync, streams: this.streams, admission: this.admission, alarms: this.alarms, env,
      changed: (frames) => this.changed(frames),
    };
    this.messages = new Messages(ops);
    this.answers = new Answers(ops);
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

  // ---- RPC methods called by the Worker (do mode; messages.ts and answers.ts) ----

  /** A human message: stored once per id; a known id answers the stored message. */
  post(call: RoomCall, input: NewHumanMessage, creator?: string): Promise<RoomResult<Stored>> {
    return this.messages.post(call, input, creator);
  }

  get(call: RoomCall, id: string): Promise<RoomResult<Message>> {
    return this.messages.get(call, id);
  }

  list(call: RoomCall, limit: number, since?: number): Promise<RoomResult<{ comments: Message[]; lastSeq: number }>> {
    return this.messages.list(call, limit, since);
  }

  listBefore(call: RoomCall, before: number, limit: number): Promise<RoomResult<{ comments: Message[]; lastSeq: number; more: boolean }>> {
    return this.messages.listBefore(call, before, limit);
  }

  heal(call: RoomCall, record: Message): Promise<RoomResult<{ message: Message; readded: boolean }>> {
    return this.messages.heal(call, record);
  }

  deleteMessage(call: RoomCall, id: string): Promise<RoomResult<Deleted>> {
    return this.messages.deleteMessage(call, id);
  }

  /** kv mode: the tombstone of a message the Worker deleted on the kv path, so a later flip cannot bring it back. */
  keepTombstone(room: string, tombstone: Message): Promise<Deleted> {
    return this.messages.keepTombstone(room, tombstone);
  }

  pending(call: RoomCall): Promise<RoomResult<Message[]>> {
    return this.answers.pending(call);
  }

  claim(call: RoomCall, messageId: string, botId: string, leaseMs: number): Promise<RoomResult<Message>> {
    return this.answers.claim(call, messageId, botId, leaseMs);
  }

  release(call: RoomCall, messageId: string, botId: string): Promise<RoomResult<Message>> {
    return this.answers.release(call, messageId, botId);
  }

  fail(call: RoomCall, messageId: string, botId: string, reason: string): Promise<RoomResult<Message>> {
    return this.answers.fail(call, messageId, botId, reason);
  }

  stream(call: RoomCall, input: StreamCall): Promise<RoomResult<StreamAck>> {
    return this.answers.stream(call, input);
  }

  reply(call: RoomCall, input: NewReply): Promise<RoomResult<Stored & { human: Message }>> {
    return this.answers.reply(call, input);
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
      limit: async () => this.admission.roomFull() ?? (client ? ((await limitPost(this.env, client.key)) ?? (this.admission.isNew() ? await this.admission.limitCreation(client.key) : null)) : null),
      admit: () => this.flips.admitWrites(this.state.roomName),
      stop: (id) => this.streams.requestStop(id),
      store: (input) => {
        const stored = this.messages.storeHuman(input);
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
    const leaseCheckAt = this.answers.interruptLapsedStreams(Date.now());
    const next = [...(await this.kvSync.onAlarm()), retentionAt, leaseCheckAt].filter((at): at is number => at !== null);
    if (next.length) await this.alarms.schedule(Math.min(...next));
  }

  // ---- internals ----

  /** After a committed change: push it, then let KV catch up without holding the answer. */
  private changed(frames: ServerFrame[]): void {
    if (!frames.length) return;
    for (const frame of frames) this.broadcast(frame);
    this.kvSync.changed();
  }

  private broadcast(frame: ServerFrame): void {
    this.pushes.push(frame);
  }

}
