// A room's WebSocket from Node (Node 22's global WebSocket), as the page keeps it:
// pushed frames in do mode, a ping every 25 s that the room answers without waking.
import { PING_FRAME, type ServerFrame } from "../../src/shared/frames";
import { now } from "./time";

/** The page pings this often (src/web/chat/live.ts). */
export const PING_EVERY_MS = 25_000;

export type SocketCounts = { connects: number; pingsSent: number; framesReceived: number };

export class RoomSocket {
  private socket: WebSocket | null = null;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private wanted = false;
  open = false;
  readonly counts: SocketCounts = { connects: 0, pingsSent: 0, framesReceived: 0 };

  constructor(
    private readonly url: string,
    private readonly onFrame: (frame: ServerFrame, receivedAt: number) => void,
    private readonly onStatus: (open: boolean) => void = () => undefined,
    private readonly pingEveryMs = PING_EVERY_MS,
  ) {}

  /** Opens the socket; resolves once the server said hello (or rejects if it could not connect). */
  start(): Promise<void> {
    this.wanted = true;
    if (this.socket) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url);
      this.socket = socket;
      this.counts.connects++;
      socket.onmessage = (event) => {
        const receivedAt = now();
        if (typeof event.data !== "string") return;
        this.counts.framesReceived++;
        const frame = JSON.parse(event.data) as ServerFrame;
        if (frame.type === "hello") {
          this.setOpen(true);
          this.startPings();
          resolve();
        }
        this.onFrame(frame, receivedAt);
      };
      socket.onerror = () => reject(new Error(`WebSocket ${this.url} failed`));
      socket.onclose = () => {
        this.drop();
        reject(new Error(`WebSocket ${this.url} closed before hello`));
      };
    });
  }

  stop(): void {
    this.wanted = false;
    this.drop();
  }

  get active(): boolean {
    return this.wanted;
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
    this.onStatus(open);
  }
}
