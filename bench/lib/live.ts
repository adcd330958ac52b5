// A room's WebSocket from Node (Node 22's global WebSocket), kept by the page's own
// client (src/client/live-socket.ts), with counts of what it sent and received.
import { LiveSocket } from "../../src/client/live-socket";
import type { ClientFrame, ServerFrame } from "../../src/shared/frames";

export { PING_EVERY_MS } from "../../src/shared/cadence";

export type SocketCounts = {
  connects: number;
  pingsSent: number;
  /** messages sent up the socket (do mode) instead of POST /api/comments, resends included */
  sends: number;
  framesReceived: number;
  pushes: number;
  errors: number;
};

export class RoomSocket {
  readonly counts: SocketCounts = { connects: 0, pingsSent: 0, sends: 0, framesReceived: 0, pushes: 0, errors: 0 };
  private readonly live: LiveSocket;

  constructor(
    url: string,
    onFrame: (frame: ServerFrame, receivedAt: number) => void,
    onStatus: (open: boolean) => void = () => undefined,
  ) {
    this.live = new LiveSocket(url, {
      onFrame: (frame, receivedAt) => {
        if (frame.type === "message" || frame.type === "update") this.counts.pushes++;
        onFrame(frame, receivedAt);
      },
      onStatus,
      onTraffic: (event) => {
        if (event === "connect") this.counts.connects++;
        else if (event === "ping") this.counts.pingsSent++;
        else if (event === "send") this.counts.sends++;
        else if (event === "frame") this.counts.framesReceived++;
        else this.counts.errors++;
      },
    });
  }

  get open(): boolean {
    return this.live.open;
  }
  /** open, and the room is in do mode: messages go up this socket */
  get acceptsSends(): boolean {
    return this.live.acceptsSends;
  }
  send(frame: ClientFrame): boolean {
    return this.live.send(frame);
  }
  start(): void {
    this.live.start();
  }
  stop(): void {
    this.live.stop();
  }
  opened(timeoutMs: number): Promise<boolean> {
    return this.live.opened(timeoutMs);
  }
}
