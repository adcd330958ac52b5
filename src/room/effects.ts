// What a change sets in motion besides its answer, shared by every part of the room: the
// object's one alarm, and the pushes to every socket.
import type { ServerFrame } from "../shared/frames";
import type { Usage } from "../storage/usage";

/** Nothing to wait for: one settled promise for the calls that have nothing to do. */
export const SETTLED: Promise<void> = Promise.resolve();

// The room's one Durable Object alarm. Every deadline (owed KV writes, the mirror,
// retention, a stream's lease) asks for it; the earliest asked for stands, and the alarm
// run sets the next.
export class AlarmSchedule {
  private at: number | null = null;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly usage: Usage,
  ) {}

  /** On wake: the alarm already set, if any. */
  async load(): Promise<boolean> {
    this.at = await this.storage.getAlarm();
    return this.at !== null;
  }

  /** What this schedule believes is set, and how to put it back (a rolled-back transaction undoes its setAlarm). */
  save(): () => void {
    const at = this.at;
    return () => {
      this.at = at;
    };
  }

  /** The alarm is running: nothing is set until someone asks again. */
  fired(): void {
    this.at = null;
  }

  /** Sets the alarm for `at` unless it is set for then or earlier (most changes: no call, nothing allocated). */
  schedule(at: number): Promise<void> {
    return this.at !== null && this.at <= at ? SETTLED : this.set(at);
  }

  private async set(at: number): Promise<void> {
    const before = this.at;
    this.at = at;
    this.usage.count("alarmsSet");
    try {
      await this.storage.setAlarm(at);
    } catch (err) {
      // Not set: a later, earlier-or-equal deadline must not think it is.
      if (this.at === at) this.at = before;
      throw err;
    }
  }
}

// Pushes to every socket of the room, after the answer to the call that caused them:
// frames are queued, in order, and sent right after the answer (a socket send's `ack`,
// an RPC's result: both run inside `answering`, which flushes as it ends), or by one
// fallback timer for pushes made while no answer is running (streams, alarms, presence).
// An answer never waits behind a slow or gone socket: each send is buffered by the
// runtime and costs that socket only.
export class Broadcaster {
  private queued: string[] = [];
  /** Answers running now: each flushes as it ends, so pushes made meanwhile need no timer. */
  private answers = 0;
  /**
   * The fallback flush on its way. One at most: under load a Durable Object's timers run
   * late, and one per push would pile up past workerd's 10,000 active timeouts.
   */
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly sockets: () => WebSocket[]) {}

  push(frame: ServerFrame): void {
    this.queued.push(JSON.stringify(frame));
    if (this.answers > 0) return;
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.flush();
    }, 0);
  }

  /** Runs one answer; what was pushed while it ran goes out as it ends, after what `answer` itself sent. */
  async answering<T>(answer: () => Promise<T>): Promise<T> {
    this.answers++;
    try {
      return await answer();
    } finally {
      this.answers--;
      this.flush();
    }
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
