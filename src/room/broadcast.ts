// Pushes to every socket of the room, after the answer to the call that caused them:
// frames are queued, in order, and sent right after a socket frame's answer (the socket
// path calls flush) or on the next turn of the event loop (an RPC answer), so an answer
// never waits behind a loop over every socket, and a socket that is slow or gone costs
// its own send, never the writer's answer.
import type { ServerFrame } from "../shared/frames";

export class Broadcaster {
  private queued: string[] = [];
  private scheduled = false;

  constructor(private readonly sockets: () => WebSocket[]) {}

  push(frame: ServerFrame): void {
    this.queued.push(JSON.stringify(frame));
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => this.flush(), 0);
  }

  /** Sends everything queued now (a no-op when nothing is). */
  flush(): void {
    this.scheduled = false;
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
