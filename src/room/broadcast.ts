// Pushes to every socket of the room, after the answer to the call that caused them:
// frames are queued and sent on the next turn of the event loop, in the order queued,
// so an ack or an RPC answer never waits behind a loop over every socket, and a socket
// that is slow or gone costs its own send, never the writer's answer.
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

  private flush(): void {
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
