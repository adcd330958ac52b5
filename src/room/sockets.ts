// A room's sockets (hibernation API): the upgrade (caps, mode, hello), and each client
// frame answered in the order its socket sent it. Pushes to every socket go through the
// room's Broadcaster (room.ts). A socket send is a post: its write is the log operation's
// (operations.ts storeHuman).
import { StatsSink } from "../control/stats";
import {
  MAX_FRAME_BYTES, ROOM_FULL_CLOSE, TOO_MANY_SOCKETS_CLOSE, type ServerFrame,
} from "../shared/frames";
import { DELETED_ERROR, type PathMode } from "../shared/message";
import { describeZodError, sendFrameSchema, stopFrameSchema } from "../shared/schemas";
import type { Usage } from "../storage/usage";
import { UNKNOWN_CLIENT, isExempt } from "../limits/client-key";
import { limitPost } from "../limits/post-limit";
import { LEFT_DO_MODE, failureOf, type NewHumanMessage, type RoomRefusal, type Stored } from "./calls";
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
  | { type: "send"; frame: ServerFrame }
  | { type: "close"; code: number; reason: string }
  | { type: "none" };

const close = (code: number, reason: string): SocketAnswer => ({ type: "close", code, reason });
const send = (frame: ServerFrame): SocketAnswer => ({ type: "send", frame });

export class RoomSockets {
  /** Each socket's frames are answered in the order sent, though the post limit is awaited. */
  private readonly socketTurns = new WeakMap<WebSocket, Promise<unknown>>();
  /** This object's own stats sink (see StatsSink: never shared with the Worker's). */
  private readonly stats = new StatsSink();
  private readonly frames: FrameMeter;

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
  }

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
    server.serializeAttachment({ key, ...(mode === "do" ? { call } : {}) } satisfies SocketClient);
    const streams = mode === "do" ? this.streams.list() : [];
    const lastPos = this.state.view.lastPos();
    const hello: ServerFrame = {
      type: "hello", room: this.state.roomName, lastPos, lastSeq: lastPos, mode, ...(streams.length ? { streams } : {}),
    };
    server.send(JSON.stringify(hello));
    return new Response(null, { status: 101, webSocket: client });
  }

  async message(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    this.usage.count("socketMessages");
    const exempt = () => isExempt(this.env, socketClient(ws)?.key ?? UNKNOWN_CLIENT);
    const verdict = this.frames.take(ws, exempt, Date.now());
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
    this.socketTurns.set(ws, turn.catch(() => undefined));
    await turn;
  }

  private async answerFrame(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const client = socketClient(ws);
    // Woken from hibernation with no tables: the socket's call restores the mode (a read; nothing is written).
    if (!this.state.schema && client?.call && client.call.flagVersion > this.state.flagVersion) {
      await this.flips.enter(client.call, false, false).catch(() => null);
    }
    const answer = await this.answer(data, client);
    // The answer goes out first, then at once the pushes of the change it reports: a
    // sender waits for neither the loop over every socket nor a later turn.
    if (answer.type === "close") ws.close(answer.code, answer.reason);
    else if (answer.type === "send") ws.send(JSON.stringify(answer.frame));
    this.pushes.flush();
  }

  // ---- what the room answers to a frame a client sent over its socket ----
  // The rules read in one place: size and shape, ping, stop, and a send, which is a post.

  private async answer(data: string | ArrayBuffer, client: SocketClient | null): Promise<SocketAnswer> {
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
    if (type === "stop") return this.stopStream(frame);
    if (type !== "send") return close(1008, "unknown frame type");
    const id = (frame as { id?: unknown }).id;
    const parsed = sendFrameSchema.safeParse(frame);
    if (!parsed.success) {
      if (typeof id !== "string") return close(1008, "a send frame needs an id");
      return send({ type: "nack", id, status: 400, error: describeZodError(parsed.error) });
    }
    const input = { id: parsed.data.id, text: parsed.data.text, author: parsed.data.author ?? "anonymous" };
    const leftDoMode = (): SocketAnswer => {
      const { status, error, mode } = LEFT_DO_MODE;
      return send({ type: "nack", id: input.id, status, error, ...(mode ? { mode } : {}) });
    };
    if (!this.state.active) return leftDoMode();
    // A resend is answered without counting against the limit.
    const known = this.state.view.get(input.id);
    if (known?.deleted) return send({ type: "nack", id: input.id, status: 410, error: `id: ${DELETED_ERROR}` });
    if (known) return send({ type: "ack", id: known.id, message: known, created: false });
    try {
      const limited = await this.limit(client);
      if (limited) return send({ type: "nack", id: input.id, ...limited });
      // The limiter is a call out of the room: it may have left do mode meanwhile.
      if (!(await this.flips.admitWrites(this.state.roomName))) return leftDoMode();
      const { message, created } = this.store(input);
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

  /** Stop on a reply being written: anyone in the room may press it; the stream's pushes tell everyone. */
  private stopStream(frame: unknown): SocketAnswer {
    const parsed = stopFrameSchema.safeParse(frame);
    if (!parsed.success) return close(1008, `stop: ${describeZodError(parsed.error)}`);
    const { id } = parsed.data;
    if (!this.state.active) {
      return send({ type: "nack", id, status: 409, error: "room is not in do mode: nothing is streamed", mode: "kv" });
    }
    if (this.streams.requestStop(id)) return { type: "none" };
    return send({ type: "nack", id, status: 404, error: "no reply with this id is being written" });
  }
}

// ---- caps ----

// How many sockets a room holds: at most ROOM_MAX_SOCKETS in all and
// ROOM_MAX_SOCKETS_PER_CLIENT per client key. Each socket is tagged with its client
// key at accept, so both counts come from the runtime's own socket lists. And how many
// frames one socket may send: a token bucket per socket, in the room's memory.
type SocketLimits = { perRoom: number; perClient: number };

/** What the room remembers of a socket across hibernation (serializeAttachment); `call`: how a do socket entered. */
type SocketClient = { key: string; call?: { room: string; flagVersion: number } };

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
  take(ws: WebSocket, exempt: () => boolean, now: number): FrameVerdict {
    let bucket = this.buckets.get(ws);
    if (!bucket) {
      bucket = { tokens: this.limits.burst, at: now, warned: false, exempt: exempt() };
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
