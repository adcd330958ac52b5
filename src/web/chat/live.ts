// The room's WebSocket (do mode): pushed frames, reconnect with jittered
// exponential backoff, and a ping that the room answers without waking up.
import { MAX_BACKOFF_MS, PING_EVERY_MS } from "../../shared/cadence";
import { PING_FRAME, type ServerFrame } from "../../shared/frames";
import { jitter } from "../dom";

export type LiveEvents = {
  onFrame(frame: ServerFrame): void;
  /** open: true once the server said hello; false when the socket is gone */
  onStatus(open: boolean): void;
};

const PONG_WITHIN_MS = 10_000;

export class LiveSocket {
  private socket: WebSocket | null = null;
  private attempts = 0;
  private wanted = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;
  open = false;

  constructor(private readonly room: string, private readonly events: LiveEvents) {}

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

  private connect(): void {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/api/rooms/${encodeURIComponent(this.room)}/ws`);
    this.socket = socket;
    socket.onmessage = (event) => {
      if (typeof event.data !== "string") return;
      let frame: ServerFrame;
      try {
        frame = JSON.parse(event.data) as ServerFrame;
      } catch {
        return;
      }
      if (frame.type === "pong") clearTimeout(this.pongTimer);
      if (frame.type === "hello") {
        this.attempts = 0;
        this.setOpen(true);
        this.startPings();
      }
      this.events.onFrame(frame);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.drop();
      if (this.wanted) this.scheduleReconnect();
    };
    socket.onerror = () => socket.close();
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
      const socket = this.socket;
      if (!socket || socket.readyState !== WebSocket.OPEN) return;
      socket.send(PING_FRAME);
      // No pong in time: the connection is dead even if the browser has not noticed.
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(() => socket.close(), PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  private drop(): void {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
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
    this.events.onStatus(open);
  }
}
