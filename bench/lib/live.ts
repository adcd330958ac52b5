// A room's WebSocket from Node (Node 22's global WebSocket), kept the way the page
// keeps it (src/web/chat/live.ts): pushed frames in do mode, reconnect with jittered
// exponential backoff, a ping every PING_EVERY_MS that the room answers without waking.
import { MAX_BACKOFF_MS, PING_EVERY_MS } from "../../src/shared/cadence";
import { PING_FRAME, type ServerFrame } from "../../src/shared/frames";
import { jitter, now } from "./time";

export { PING_EVERY_MS };

export type SocketCounts = { connects: number; pingsSent: number; framesReceived: number; pushes: number; errors: number };

export class RoomSocket {
  private socket: WebSocket | null = null;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private attempts = 0;
  private wanted = false;
  private waiters: (() => void)[] = [];
  open = false;
  readonly counts: SocketCounts = { connects: 0, pingsSent: 0, framesReceived: 0, pushes: 0, errors: 0 };

  constructor(
    private readonly url: string,
    private readonly onFrame: (frame: ServerFrame, receivedAt: number) => void,
    private readonly onStatus: (open: boolean) => void = () => undefined,
    private readonly pingEveryMs = PING_EVERY_MS,
  ) {}

  /** Keeps a socket open until stop(); idempotent. */
  start(): void {
    this.wanted = true;
    if (!this.socket && this.reconnectTimer === undefined) this.connect();
  }

  /** Resolves once the server said hello, or after `timeoutMs` (the caller then polls, like the page). */
  opened(timeoutMs: number): Promise<boolean> {
    if (this.open) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.open), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  stop(): void {
    this.wanted = false;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.drop();
  }

  get active(): boolean {
    return this.wanted;
  }

  private connect(): void {
    const socket = new WebSocket(this.url);
    this.socket = socket;
    this.counts.connects++;
    socket.onmessage = (event) => {
      const receivedAt = now();
      if (typeof event.data !== "string") return;
      this.counts.framesReceived++;
      const frame = JSON.parse(event.data) as ServerFrame;
      if (frame.type === "message" || frame.type === "update") this.counts.pushes++;
      if (frame.type === "hello") {
        this.attempts = 0;
        this.setOpen(true);
        this.startPings();
      }
      this.onFrame(frame, receivedAt);
    };
    socket.onerror = () => {
      this.counts.errors++;
      socket.close();
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.drop();
      if (this.wanted) this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    const backoff = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** this.attempts++);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.wanted) this.connect();
    }, jitter(backoff / 2, backoff));
  }

  private startPings(): void {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (this.socket?.readyState !== WebSocket.OPEN) return;
      this.socket.send(PING_FRAME);
      this.counts.pingsSent++;
    }, this.pingEveryMs);
  }

  private drop(): void {
    clearInterval(this.pingTimer);
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
    if (open) for (const resolve of this.waiters.splice(0)) resolve();
    this.onStatus(open);
  }
}
