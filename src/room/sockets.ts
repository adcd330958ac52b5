// A room's sockets (hibernation API): the upgrade (caps, mode, hello), and each client
// frame answered in the order its socket sent it (rules in socket-frames.ts). Pushes
// to every socket go through broadcast.ts.
import { StatsSink } from "../control/stats";
import { TOO_MANY_SOCKETS_CLOSE, type ServerFrame } from "../shared/frames";
import type { PathMode } from "../shared/message";
import type { Usage } from "../storage/usage";
import { UNKNOWN_CLIENT, isExempt } from "../limits/client-key";
import { limitPost } from "../limits/post-limit";
import { LEFT_DO_MODE } from "./calls";
import type { Flips } from "./flips";
import type { LogOperations } from "./operations";
import type { RoomState } from "./log";
import { FrameMeter, capRefusal, frameLimits, clientTag, socketClient, socketLimits, type SocketClient } from "./socket-caps";
import { handleClientFrame, type SocketAnswer } from "./socket-frames";
import type { LiveStreams } from "./streams";

/** Headers the Worker adds when it hands a socket upgrade to the room (its name the room knows: `ctx.id.name`). */
export const FLAG_VERSION_HEADER = "x-flag-version";
export const ROOM_MODE_HEADER = "x-room-mode";
/** The client's key (src/worker/client-key.ts): its sockets and sends are counted by it. */
export const CLIENT_KEY_HEADER = "x-client-key";

export type SocketsDeps = {
  state: RoomState;
  env: Env;
  usage: Usage;
  flips: Pick<Flips, "enter" | "admitWrites">;
  ops: Pick<LogOperations, "storeHuman" | "roomFull" | "isNew" | "limitCreation">;
  streams: LiveStreams;
  flushPushes(): void;
};

export class RoomSockets {
  private readonly state: RoomState;
  /** Each socket's frames are answered in the order sent, though the post limit is awaited. */
  private readonly socketTurns = new WeakMap<WebSocket, Promise<unknown>>();
  /** This object's own stats sink (see StatsSink: never shared with the Worker's). */
  private readonly stats = new StatsSink();
  private readonly frames: FrameMeter;

  constructor(private readonly deps: SocketsDeps) {
    this.state = deps.state;
    this.frames = new FrameMeter(frameLimits(deps.env));
  }

  async accept(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return Response.json({ error: "expected a WebSocket upgrade" }, { status: 426 });
    }
    const call = { room: this.state.roomName, flagVersion: Number(request.headers.get(FLAG_VERSION_HEADER) ?? -1) };
    let mode: PathMode = "kv";
    if (request.headers.get(ROOM_MODE_HEADER) === "do") mode = (await this.deps.flips.enter(call)) ? "kv" : "do";
    else this.deps.usage.count("requests"); // (in do mode, enter counts it)
    const { 0: client, 1: server } = new WebSocketPair();
    const key = request.headers.get(CLIENT_KEY_HEADER) ?? UNKNOWN_CLIENT;
    const refusal = capRefusal(this.state.ctx, key, isExempt(this.deps.env, key), socketLimits(this.deps.env));
    if (refusal) {
      // Accepted outside the hibernation API, so it never counts among the room's sockets.
      server.accept();
      server.close(refusal.code, refusal.reason);
      return new Response(null, { status: 101, webSocket: client });
    }
    this.state.ctx.acceptWebSocket(server, [clientTag(key)]);
    // The call rides along: a never-written room keeps its mode in memory only, and may hibernate.
    server.serializeAttachment({ key, ...(mode === "do" ? { call } : {}) } satisfies SocketClient);
    const streams = mode === "do" ? this.deps.streams.list() : [];
    const lastPos = this.state.view.lastPos();
    const hello: ServerFrame = { type: "hello", room: this.state.roomName, lastPos, lastSeq: lastPos, mode, ...(streams.length ? { streams } : {}) };
    server.send(JSON.stringify(hello));
    return new Response(null, { status: 101, webSocket: client });
  }

  async message(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    this.deps.usage.count("socketMessages");
    const verdict = this.frames.take(ws, () => isExempt(this.deps.env, socketClient(ws)?.key ?? UNKNOWN_CLIENT), Date.now());
    const { rate, burst } = this.frames.limits;
    if (verdict === "close") return ws.close(TOO_MANY_SOCKETS_CLOSE, `too many frames: at most ${rate} a second (${burst} at once)`);
    if (verdict === "warn") {
      const error = `too many frames: at most ${rate} a second (${burst} at once); this one was dropped, the next closes the socket`;
      return ws.send(JSON.stringify({ type: "slow-down", error } satisfies ServerFrame));
    }
    const turn = (this.socketTurns.get(ws) ?? Promise.resolve()).then(() => this.answerFrame(ws, data));
    this.socketTurns.set(ws, turn.catch(() => undefined));
    await turn;
  }

  private async answerFrame(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const client = socketClient(ws);
    // Woken from hibernation with no tables: the socket's call restores the mode (a read; nothing is written).
    if (!this.state.schema && client?.call && client.call.flagVersion > this.state.flagVersion) await this.deps.flips.enter(client.call, false, false).catch(() => null);
    const answer: SocketAnswer = await handleClientFrame(data, {
      active: () => this.state.active,
      leftDoMode: LEFT_DO_MODE,
      known: (id) => this.state.view.get(id),
      // A socket from before sockets carried their client is not counted (it reconnects soon enough).
      limit: async () => this.deps.ops.roomFull() ?? (client ? ((await limitPost(this.deps.env, client.key)) ?? (this.deps.ops.isNew() ? await this.deps.ops.limitCreation(client.key) : null)) : null),
      admit: () => this.deps.flips.admitWrites(this.state.roomName),
      stop: (id) => this.deps.streams.requestStop(id),
      store: (input) => {
        const stored = this.deps.ops.storeHuman(input);
        if (stored.created) this.stats.record(this.deps.env, (p) => this.state.ctx.waitUntil(p), { type: "post", mode: "do", kind: "human" });
        return stored;
      },
    });
    // The answer goes out first, then at once the pushes of the change it reports: a
    // sender waits for neither the loop over every socket nor a later turn.
    if (answer.type === "close") ws.close(answer.code, answer.reason);
    else if (answer.type === "send") ws.send(JSON.stringify(answer.frame));
    this.deps.flushPushes();
  }
}
