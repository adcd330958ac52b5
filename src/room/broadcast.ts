// Pushes to every socket of the room, after the answer to the call that caused them:
// frames are queued, in order, and sent right after the answer (a socket send's `ack`,
// an RPC's result: the Room flushes then), or by one fallback timer for pushes no answer
// carries (streams, alarms). An answer never waits behind a slow or gone socket: each
// send is buffered by the runtime and costs that socket only.
import type { ServerFrame } from "../shared/frames";

export class Broadcaster {
  private queued: string[] = [];
  /** The fallback flush on its way. One at most: under load a Durable Object's timers run late, and one per push piled up past workerd's 10,000 active timeouts. */
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly sockets: () => WebSocket[]) {}

  push(frame: ServerFrame): void {
    this.queued.push(JSON.stringify(frame));
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.flush();
    }, 0);
  }

  /** Sends everything queued now (nothing when nothing is). */
  flush(): void {
    if (!this.queued.length) return;
    const frames = this.queued;
    this.queued = [];
    for (const ws of this.sockets()) {
      try {
        for (const data of frames) ws.send(data);
      } catch {
        // a closing socket; its close handler cleans up
      }
    }
  }
}
