// A room's WebSocket as a client keeps it: pushed frames, reconnect with jittered
// exponential backoff, a ping the room answers without waking, and a dead-connection
// check when no pong comes, and frames sent up (`send`) while it is open. One
// implementation for the page (browser) and the race lab's tabs (Node 22's global
// WebSocket), so the lab measures what the page does.
import { MAX_BACKOFF_MS, PING_EVERY_MS, REFUSED_RETRY_MS, jitter } from "../shared/cadence";
import { PING_FRAME, REFUSED_SOCKET_CLOSES, type ClientFrame, type ServerFrame } from "../shared/frames";
import type { PathMode } from "../shared/message";

export type LiveEvents = {
  /** `receivedAt`: wall-clock ms (sub-ms), comparable with the Worker's createdAt */
  onFrame(frame: ServerFrame, receivedAt: number): void;
  /** open: true once the server said hello; false when the socket is gone */
  onStatus(open: boolean): void;
  /** the room refused the socket (too many sockets): poll meanwhile; it asks again in a minute or so */
  onRefused?(reason: string): void;
  /** What went over the wire, for the lab's request counts; the page leaves it out. */
  onTraffic?(event: "connect" | "ping" | "send" | "frame" | "error"): void;
};

const PONG_WITHIN_MS = 10_000;
/**
 * A socket that opened (or is still connecting) but brought no hello by then is given up and
 * reconnected: a half-open connection would otherwise hold the page off the socket until the
 * first ping, a minute later.
 */
export const HELLO_WITHIN_MS = 10_000;

const wallClock = (): number => performance.timeOrigin + performance.now();

export class LiveSocket {
  private socket: WebSocket | null = null;
  private attempts = 0;
  private wanted = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;
  private helloTimer: ReturnType<typeof setTimeout> | undefined;
  private openWaiters: (() => void)[] = [];
  open = false;
  /** The room's mode as the server last stated it (hello, mode, or a nack naming it); null before. */
  mode: PathMode | null = null;
  /** Why the room refused our last socket (it is over its caps); null once a socket opens. */
  refused: string | null = null;

  constructor(
    private readonly url: string,
    private readonly events: LiveEvents,
    private readonly helloWithinMs = HELLO_WITHIN_MS,
  ) {}

  /** Keeps a socket open until stop(); idempotent. */
  start(): void {
    this.wanted = true;
    if (!this.socket && this.reconnectTimer === undefined) this.connect();
  }

  stop(): void {
    this.wanted = false;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.drop();
  }

  /** Reconnects now (e.g. the browser came back online), skipping the backoff wait. */
  retryNow(): void {
    if (!this.wanted || this.socket) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.connect();
  }

  /** The room takes messages over this socket: it is open and the room is in do mode. */
  get acceptsSends(): boolean {
    return this.open && this.mode === "do";
  }

  /** Sends one frame; false when the socket is not open (nothing was sent). */
  send(frame: ClientFrame): boolean {
    const socket = this.socket;
    if (!this.open || !socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame));
    this.events.onTraffic?.(frame.type === "ping" ? "ping" : "send");
    return true;
  }

  /** Resolves true once the server said hello, or with the current state after `timeoutMs`. */
  opened(timeoutMs: number): Promise<boolean> {
    if (this.open) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.open), timeoutMs);
      this.openWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private connect(): void {
    const socket = new WebSocket(this.url);
    this.socket = socket;
    this.events.onTraffic?.("connect");
    this.helloTimer = setTimeout(() => {
      if (this.socket === socket && !this.open) this.lost();
    }, this.helloWithinMs);
    socket.onmessage = (event) => {
      const receivedAt = wallClock();
      if (typeof event.data !== "string") return;
      let frame: ServerFrame;
      try {
        frame = JSON.parse(event.data) as ServerFrame;
      } catch {
        return;
      }
      this.events.onTraffic?.("frame");
      if (frame.type === "pong") clearTimeout(this.pongTimer);
      if ((frame.type === "hello" || frame.type === "mode" || frame.type === "nack") && frame.mode)
        this.mode = frame.mode;
      if (frame.type === "hello") {
        clearTimeout(this.helloTimer);
        this.attempts = 0;
        this.refused = null;
        this.setOpen(true);
        this.startPings();
      }
      this.events.onFrame(frame, receivedAt);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      if (!REFUSED_SOCKET_CLOSES.includes(event.code)) return this.lost();
      // Not a fault to retry soon: the room is full for us. Poll, and ask again much later.
      this.drop();
      this.refused = event.reason || `refused (${event.code})`;
      this.events.onRefused?.(this.refused);
      if (this.wanted) this.scheduleReconnect(jitter(...REFUSED_RETRY_MS));
    };
    socket.onerror = () => {
      this.events.onTraffic?.("error");
      // Treated as the close it leads to: a failed connection may never fire `close`
      // (Node 22), and close() inside `error` can re-fire it. drop() detaches first.
      if (this.socket === socket) this.lost();
    };
  }

  /** The socket is gone (closed, failed, or no hello in time): drop it and connect again with backoff while wanted. */
  private lost(): void {
    this.drop();
    if (this.wanted) this.scheduleReconnect();
  }

  private scheduleReconnect(delayMs?: number): void {
    const backoff = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** this.attempts++);
    this.reconnectTimer = setTimeout(
      () => {
        this.reconnectTimer = undefined;
        if (this.wanted) this.connect();
      },
      delayMs ?? jitter(backoff / 2, backoff),
    );
  }

  private startPings(): void {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      const socket = this.socket;
      if (!socket || socket.readyState !== WebSocket.OPEN) return;
      socket.send(PING_FRAME);
      this.events.onTraffic?.("ping");
      // No pong in time: the connection is dead even if the runtime has not noticed.
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(() => socket.close(), PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  private drop(): void {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    clearTimeout(this.helloTimer);
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = null;
      socket.onmessage = null;
      socket.onerror = null;
      if (socket.readyState === WebSocket.CONNECTING || socket.readyState === WebSocket.OPEN) socket.close();
    }
    this.setOpen(false);
  }

  private setOpen(open: boolean): void {
    if (this.open === open) return;
    this.open = open;
    if (open) for (const resolve of this.openWaiters.splice(0)) resolve();
    this.events.onStatus(open);
  }
}
