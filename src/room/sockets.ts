// A room's sockets (hibernation API): the upgrade (caps, mode, hello), and each client
// frame answered in the order its socket sent it. Pushes to every socket go through the
// room's Broadcaster (room.ts). A socket send is a post: its write is the log operation's
// (operations.ts storeHuman).
import { StatsSink } from "../control/stats";
import { BOT_AWAY_MS, SOCKET_SILENT_MS, TYPING_EVERY_MS } from "../shared/cadence";
import {
  MAX_FRAME_BYTES,
  ROOM_FULL_CLOSE,
  TOO_MANY_SOCKETS_CLOSE,
  type BotState,
  type Presence,
  type ServerFrame,
} from "../shared/frames";
import { DELETED_ERROR, type PathMode } from "../shared/message";
import {
  describeZodError,
  isReservedName,
  presenceFrameSchema,
  sendFrameSchema,
  stopFrameSchema,
  typingFrameSchema,
} from "../shared/schemas";
import type { RoomBots } from "../shared/bots";
import type { Usage } from "../storage/usage";
import { UNKNOWN_CLIENT, isExempt } from "../limits/client-key";
import { limitPost, limitStop } from "../limits/post-limit";
import {
  LEFT_DO_MODE,
  failureOf,
  hashKey,
  senderOf,
  type NewHumanMessage,
  type RoomRefusal,
  type Stored,
} from "./calls";
import type { Flips } from "./flips";
import type { RoomState } from "./log";
import type { LogOperations } from "./operations";
import type { Broadcaster } from "./effects";
import type { LiveStreams } from "./streams";

/** Headers the Worker adds when it hands a socket upgrade to the room (its name the room knows: `ctx.id.name`). */
export const FLAG_VERSION_HEADER = "x-flag-version";
export const ROOM_MODE_HEADER = "x-room-mode";
/** The client's key (src/worker/client-key.ts): its sockets and sends are counted by it. */
export const CLIENT_KEY_HEADER = "x-client-key";

/** `none`: the frame's effect reaches every socket as a push (Stop), so no answer of its own. */
type SocketAnswer =
  { type: "send"; frame: ServerFrame } | { type: "close"; code: number; reason: string } | { type: "none" };

const close = (code: number, reason: string): SocketAnswer => ({ type: "close", code, reason });
const send = (frame: ServerFrame): SocketAnswer => ({ type: "send", frame });
/** A send refused because the room left do mode meanwhile: the page sends it again on the kv path. */
const leftDoMode = (id: string): SocketAnswer => {
  const { status, error, mode } = LEFT_DO_MODE;
  return send({ type: "nack", id, status, error, ...(mode ? { mode } : {}) });
};
const gone = (id: string): SocketAnswer => send({ type: "nack", id, status: 410, error: `id: ${DELETED_ERROR}` });

export class RoomSockets {
  /** Each socket's frames are answered in the order sent, though the post limit is awaited. */
  private readonly socketTurns = new WeakMap<WebSocket, Promise<unknown>>();
  /** This object's own stats sink (see StatsSink: never shared with the Worker's). */
  private readonly stats = new StatsSink();
  private readonly frames: FrameMeter;
  readonly presence: RoomPresence;

  constructor(
    private readonly state: RoomState,
    private readonly ops: LogOperations,
    private readonly flips: Flips,
    private readonly streams: LiveStreams,
    private readonly pushes: Broadcaster,
    private readonly usage: Usage,
    private readonly env: Env,
  ) {
    this.frames = new FrameMeter(frameLimits(env));
    this.presence = new RoomPresence(state.ctx, pushes);
  }

  /** Whether a socket's client is exempt from the frame limit (asked once per socket). */
  private readonly exemptSocket = (ws: WebSocket) => isExempt(this.env, socketClient(ws)?.key ?? UNKNOWN_CLIENT);

  async accept(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return Response.json({ error: "expected a WebSocket upgrade" }, { status: 426 });
    }
    const call = { room: this.state.roomName, flagVersion: Number(request.headers.get(FLAG_VERSION_HEADER) ?? -1) };
    let mode: PathMode = "kv";
    if (request.headers.get(ROOM_MODE_HEADER) === "do") mode = (await this.flips.enter(call)) ? "kv" : "do";
    else this.usage.count("requests"); // (in do mode, enter counts it)
    const { 0: client, 1: server } = new WebSocketPair();
    const key = request.headers.get(CLIENT_KEY_HEADER) ?? UNKNOWN_CLIENT;
    const refusal = capRefusal(this.state.ctx, key, isExempt(this.env, key), socketLimits(this.env));
    if (refusal) {
      // Accepted outside the hibernation API, so it never counts among the room's sockets.
      server.accept();
      server.close(refusal.code, refusal.reason);
      return new Response(null, { status: 101, webSocket: client });
    }
    this.state.ctx.acceptWebSocket(server, [clientTag(key)]);
    // The call rides along: a never-written room keeps its mode in memory only, and may hibernate.
    const now = Date.now();
    server.serializeAttachment({ key, at: now, ...(mode === "do" ? { call } : {}) } satisfies SocketClient);
    const streams = mode === "do" ? this.streams.list() : [];
    const lastPos = this.state.view.lastPos();
    const hello: ServerFrame = {
      type: "hello",
      room: this.state.roomName,
      lastPos,
      lastSeq: lastPos,
      mode,
      ...(streams.length ? { streams } : {}),
      presence: this.presence.snapshot(now),
    };
    server.send(JSON.stringify(hello));
    this.presence.changed();
    return new Response(null, { status: 101, webSocket: client });
  }

  async message(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    this.usage.count("socketMessages");
    const verdict = this.frames.take(ws, this.exemptSocket, Date.now());
    const { rate, burst } = this.frames.limits;
    if (verdict === "close") {
      return ws.close(TOO_MANY_SOCKETS_CLOSE, `too many frames: at most ${rate} a second (${burst} at once)`);
    }
    if (verdict === "warn") {
      const error =
        `too many frames: at most ${rate} a second (${burst} at once); ` +
        "this one was dropped, the next closes the socket";
      return ws.send(JSON.stringify({ type: "slow-down", error } satisfies ServerFrame));
    }
    const turn = (this.socketTurns.get(ws) ?? Promise.resolve()).then(() => this.answerFrame(ws, data));
    this.socketTurns.set(
      ws,
      turn.catch(() => undefined),
    );
    await turn;
  }

  private async answerFrame(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const client = socketClient(ws);
    // Woken from hibernation with no tables: the socket's call restores the mode (a read; nothing is written).
    if (!this.state.schema && client?.call && client.call.flagVersion > this.state.flagVersion) {
      await this.flips.enter(client.call, false, false).catch(() => null);
    }
    // The answer goes out first, then at once the pushes of the change it reports: a
    // sender waits for neither the loop over every socket nor a later turn.
    await this.pushes.answering(async () => {
      const answer = await this.answer(ws, data, client);
      if (answer.type === "close") ws.close(answer.code, answer.reason);
      else if (answer.type === "send") ws.send(JSON.stringify(answer.frame));
    });
  }

  // ---- what the room answers to a frame a client sent over its socket ----
  // The rules read in one place: size and shape, ping, stop, and a send, which is a post.

  private async answer(ws: WebSocket, data: string | ArrayBuffer, client: SocketClient | null): Promise<SocketAnswer> {
    // In bytes: a string's length counts UTF-16 units, and one unit takes up to three bytes.
    const size =
      typeof data !== "string"
        ? data.byteLength
        : data.length * 3 <= MAX_FRAME_BYTES
          ? data.length
          : new TextEncoder().encode(data).byteLength;
    if (size > MAX_FRAME_BYTES) return close(1009, `frames must be at most ${MAX_FRAME_BYTES} bytes`);
    if (typeof data !== "string") return close(1003, "frames must be JSON text");
    let frame: unknown;
    try {
      frame = JSON.parse(data);
    } catch {
      return close(1008, "frames must be JSON");
    }
    const type = (frame as { type?: unknown } | null)?.type;
    // A ping spelled differently from PING_FRAME (which the runtime answers) still gets its pong.
    if (type === "ping") return send({ type: "pong" });
    if (type === "stop") return this.stopStream(frame, client);
    if (type === "presence" || type === "typing") return this.presenceFrame(ws, frame);
    if (type !== "send") return close(1008, "unknown frame type");
    const id = (frame as { id?: unknown }).id;
    const parsed = sendFrameSchema.safeParse(frame);
    if (!parsed.success) {
      if (typeof id !== "string") return close(1008, "a send frame needs an id");
      return send({ type: "nack", id, status: 400, error: describeZodError(parsed.error) });
    }
    const { editKey } = parsed.data;
    const key = client?.key ?? UNKNOWN_CLIENT;
    const input: NewHumanMessage = {
      id: parsed.data.id,
      text: parsed.data.text,
      author: parsed.data.author ?? "anonymous",
    };
    if (editKey) input.editKeyHash = await hashKey(editKey);
    if (client) {
      input.sender = await senderOf(key);
      input.capped = key !== UNKNOWN_CLIENT && !isExempt(this.env, key);
    }
    if (!this.state.active) return leftDoMode(input.id);
    // A resend is answered without counting against the limit: looked up first when the limit would
    // count it or the room is full; otherwise the insert itself finds a known id.
    if (this.ops.roomFull() || (client && !isExempt(this.env, key))) {
      const known = this.state.view.get(input.id);
      if (known?.deleted) return gone(input.id);
      if (known) return send({ type: "ack", id: known.id, message: known, created: false });
    }
    try {
      const limited = await this.limit(client);
      if (limited) return send({ type: "nack", id: input.id, ...limited });
      // The limiter is a call out of the room: it may have left do mode meanwhile.
      if (!(await this.flips.admitWrites(this.state.roomName))) return leftDoMode(input.id);
      const { message, created } = this.store(input);
      if (message.deleted) return gone(input.id);
      return send({ type: "ack", id: message.id, message, created });
    } catch (err) {
      // As over HTTP: a passing failure is "send again" (503), a bug is final (500 with an error id).
      const { status, error, retryAfter } = failureOf(err);
      return send({ type: "nack", id: input.id, status, error, ...(retryAfter ? { retryAfter } : {}) });
    }
  }

  /** Counts one new message against the socket's client and the room's caps: null when it may be stored. */
  private async limit(client: SocketClient | null): Promise<RoomRefusal | null> {
    const full = this.ops.roomFull();
    if (full) return full;
    // A socket without a client attachment is not counted (it reconnects soon enough).
    if (!client) return null;
    const limited = await limitPost(this.env, client.key);
    if (limited) return limited;
    return this.ops.isNew() ? await this.ops.limitCreation(client.key) : null;
  }

  private store(input: NewHumanMessage): Stored {
    const stored = this.ops.storeHuman(input);
    if (stored.created) {
      this.stats.record(this.env, (p) => this.state.ctx.waitUntil(p), { type: "post", mode: "do", kind: "human" });
    }
    return stored;
  }

  /** A name for presence, or "typing": never stored, answered with pushes to the others only. */
  private presenceFrame(ws: WebSocket, frame: unknown): SocketAnswer {
    const typing = typingFrameSchema.safeParse(frame);
    if (typing.success) {
      this.presence.typing(ws, Date.now());
      return { type: "none" };
    }
    const parsed = presenceFrameSchema.safeParse(frame);
    if (!parsed.success) return close(1008, `presence: ${describeZodError(parsed.error)}`);
    // A bot's or staff name is not shown for a person: they stay unnamed (the page keeps its socket).
    if (isReservedName(parsed.data.name)) return { type: "none" };
    this.presence.named(ws, parsed.data.name, Date.now());
    return { type: "none" };
  }

  /**
   * Stop on a reply being written: only its asker (the human message's edit key) may press it
   * over a socket (bots and operators stop over HTTP); counted per client (STOP_LIMITER); the
   * stream's pushes tell everyone.
   */
  private async stopStream(frame: unknown, client: SocketClient | null): Promise<SocketAnswer> {
    const parsed = stopFrameSchema.safeParse(frame);
    if (!parsed.success) return close(1008, `stop: ${describeZodError(parsed.error)}`);
    const { id, editKey } = parsed.data;
    if (!this.state.active) {
      return send({ type: "nack", id, status: 409, error: "room is not in do mode: nothing is streamed", mode: "kv" });
    }
    const limited = await limitStop(this.env, client?.key ?? UNKNOWN_CLIENT);
    if (limited) return send({ type: "nack", id, ...limited });
    const replyTo = this.streams.replyToOf(id);
    if (!replyTo) return send({ type: "nack", id, status: 404, error: "no reply with this id is being written" });
    const result = this.ops.stopAsked(replyTo, editKey ? { editKeyHash: await hashKey(editKey) } : {});
    if (result.ok) return { type: "none" };
    return send({ type: "nack", id, status: result.status, error: result.error });
  }
}

// ---- caps ----

// How many sockets a room holds: at most ROOM_MAX_SOCKETS in all and
// ROOM_MAX_SOCKETS_PER_CLIENT per client key. Each socket is tagged with its client
// key at accept, so both counts come from the runtime's own socket lists. And how many
// frames one socket may send: a token bucket per socket, in the room's memory.
type SocketLimits = { perRoom: number; perClient: number };

/**
 * What the room remembers of a socket across hibernation (serializeAttachment, no storage):
 * `call`, how a do socket entered; `name`, who it is in presence; `at`, when it last said so.
 */
type SocketClient = { key: string; call?: { room: string; flagVersion: number }; name?: string; at?: number };

const positive = (value: string | undefined, fallback: number): number => {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : fallback;
};

function socketLimits(env: Pick<Env, "ROOM_MAX_SOCKETS" | "ROOM_MAX_SOCKETS_PER_CLIENT">): SocketLimits {
  return { perRoom: positive(env.ROOM_MAX_SOCKETS, 2000), perClient: positive(env.ROOM_MAX_SOCKETS_PER_CLIENT, 20) };
}

/** A socket's tag for its client (tags are at most 256 characters; keys are at most 64). */
const clientTag = (key: string): string => `client:${key}`;

/** The close code and reason for one more socket of `key`, or null when it fits. */
function capRefusal(
  ctx: DurableObjectState,
  key: string,
  exempt: boolean,
  limits: SocketLimits,
): { code: number; reason: string } | null {
  if (ctx.getWebSockets().length >= limits.perRoom) {
    return { code: ROOM_FULL_CLOSE, reason: `room is full (${limits.perRoom} sockets); poll instead and retry later` };
  }
  if (!exempt && ctx.getWebSockets(clientTag(key)).length >= limits.perClient) {
    const reason = `too many sockets from your address in this room (${limits.perClient}); poll instead`;
    return { code: TOO_MANY_SOCKETS_CLOSE, reason };
  }
  return null;
}

/** The client a socket was accepted for; null for a socket that carries none. */
function socketClient(ws: WebSocket): SocketClient | null {
  const attachment = ws.deserializeAttachment() as SocketClient | null;
  return attachment && typeof attachment.key === "string" ? attachment : null;
}

/**
 * Frames one socket may send, by default (SOCKET_FRAME_RATE and SOCKET_FRAME_BURST): FRAME_RATE
 * a second on average, FRAME_BURST at once. The burst is wide because a page that was told to
 * slow down resends every message it queued meanwhile together (twice the post limit is the
 * most it holds in practice).
 */
export const FRAME_RATE = 10;
export const FRAME_BURST = 60;

type FrameLimits = { rate: number; burst: number };

function frameLimits(env: Pick<Env, "SOCKET_FRAME_RATE" | "SOCKET_FRAME_BURST">): FrameLimits {
  return { rate: positive(env.SOCKET_FRAME_RATE, FRAME_RATE), burst: positive(env.SOCKET_FRAME_BURST, FRAME_BURST) };
}

type FrameVerdict = "ok" | "warn" | "close";

/**
 * Meters every frame a socket sends, whatever its type (sends, stops, pings the runtime
 * does not answer itself, junk): a page sends a few a minute, a script thousands a second.
 * In memory only: a room woken from hibernation starts each socket with a full bucket,
 * which costs nothing and lets through at most one more burst. Exempt client keys (a
 * lab on loopback) are not metered.
 */
class FrameMeter {
  private readonly buckets = new WeakMap<WebSocket, { tokens: number; at: number; warned: boolean; exempt: boolean }>();

  constructor(readonly limits: FrameLimits) {}

  /** "ok": answer the frame; "warn": the first time over, drop it and warn; "close": over again. */
  take(ws: WebSocket, exempt: (ws: WebSocket) => boolean, now: number): FrameVerdict {
    let bucket = this.buckets.get(ws);
    if (!bucket) {
      bucket = { tokens: this.limits.burst, at: now, warned: false, exempt: exempt(ws) };
      this.buckets.set(ws, bucket);
    }
    if (bucket.exempt) return "ok";
    bucket.tokens = Math.min(this.limits.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.limits.rate);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return "ok";
    }
    if (bucket.warned) return "close";
    bucket.warned = true;
    return "warn";
  }
}

// ---- presence ----

/** Joins, leaves and names within this long go out as one presence frame. */
const PRESENCE_PUSH_MS = 250;
/**
 * Names a presence lists at most (`count` stays exact). Presence goes to every socket on every
 * join and with every list: with a room's 2,000 sockets, all their names would make each push
 * and each poll carry kilobytes per socket.
 */
export const PRESENCE_NAMES = 50;

/**
 * Who is in the room, from the runtime's own socket list and each socket's attachment, so it
 * survives hibernation and costs no SQLite rows. Bots have no socket: the room notes in memory
 * when each last asked for work (a restarted room learns again at the next poll).
 */
export class RoomPresence {
  private readonly bots = new Map<string, { seenAt: number; state: BotState; announcedAt: number }>();
  private readonly typed = new WeakMap<WebSocket, number>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The bots the operator set for this room (room.ts sets it): presence names them, the composer offers them. */
  serving: () => RoomBots = () => ({ bots: [], defaultBot: null });

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly pushes: Broadcaster,
  ) {}

  /** Someone came, went or renamed: one presence push for everything within PRESENCE_PUSH_MS. */
  changed(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.pushes.push({ type: "presence", ...this.snapshot(Date.now()) });
      this.pushes.flush();
    }, PRESENCE_PUSH_MS);
  }

  snapshot(now: number): Presence {
    const people = new Map<string, number>();
    let count = 0;
    for (const ws of this.ctx.getWebSockets()) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      const client = socketClient(ws);
      const pinged = this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0;
      // Gone without a close (a dropped network): neither its pings nor its frames arrive any more.
      if (now - Math.max(pinged, client?.at ?? now) > SOCKET_SILENT_MS) {
        ws.close(1001, "no ping within the timeout");
        continue;
      }
      count++;
      const name = client?.name ?? "anonymous";
      people.set(name, (people.get(name) ?? 0) + 1);
    }
    const bots = [...this.bots]
      .filter(([, bot]) => now - bot.seenAt < BOT_AWAY_MS)
      .map(([id, bot]) => ({ id, state: bot.state, seenAgoMs: now - bot.seenAt }));
    const named = [...people].map(([name, sockets]) => ({ name, sockets }));
    const { bots: configured, defaultBot } = this.serving();
    const serving = configured.map((bot) => ({
      ...bot,
      ...(bot.name === defaultBot ? { default: true as const } : {}),
    }));
    return { count, people: named.slice(0, PRESENCE_NAMES), bots, ...(serving.length ? { serving } : {}) };
  }

  named(ws: WebSocket, name: string, now: number): void {
    const client = socketClient(ws);
    if (!client) return;
    const renamed = client.name !== name;
    ws.serializeAttachment({ ...client, name, at: now } satisfies SocketClient);
    if (renamed) this.changed();
  }

  /** Tells the others; a socket typing again within TYPING_EVERY_MS is not repeated. */
  typing(ws: WebSocket, now: number): void {
    if (now - (this.typed.get(ws) ?? 0) < TYPING_EVERY_MS) return;
    this.typed.set(ws, now);
    const name = socketClient(ws)?.name ?? "anonymous";
    const frame = JSON.stringify({ type: "typing", name } satisfies ServerFrame);
    for (const other of this.ctx.getWebSockets()) {
      if (other === ws || other.readyState !== WebSocket.OPEN) continue;
      try {
        other.send(frame);
      } catch {
        // closing meanwhile
      }
    }
  }

  /**
   * A bot called the room. Pages age a bot's `seenAgoMs` themselves, so a state change, a new
   * bot, or half of BOT_AWAY_MS since the last announcement pushes presence; polls between do not.
   */
  botSeen(id: string, state: BotState, now: number): void {
    const bot = this.bots.get(id);
    const announce = !bot || bot.state !== state || now - bot.announcedAt >= BOT_AWAY_MS / 2;
    this.bots.set(id, { seenAt: now, state, announcedAt: announce ? now : bot.announcedAt });
    if (announce) this.changed();
  }
}
