// The AI replies a room's bots are writing right now (do rooms). Held in memory, keyed by
// the reply's id; pushed to the sockets at most every STREAM_PUSH_MS per stream (a frame
// carries only the text added since the last one) and written to SQLite at most every
// STREAM_PERSIST_MS, so a restarted room, or a viewer joining late, loses at most that
// last second: the bot resends from what the room answers it holds.
import { MAX_TEXT } from "../shared/message";
import {
  STREAM_PERSIST_MS,
  STREAM_PUSH_MS,
  type LiveStream,
  type StreamAck,
  type StreamCall,
  type StreamFrame,
  type StreamState,
  type StreamStats,
} from "../shared/stream";

type Held = LiveStream & {
  botId: string;
  /** characters already pushed to the sockets, and the state they were told */
  pushed: number;
  pushedState: StreamState | null;
  lastPushAt: number;
  /** what storage holds differs from memory; when it was last written */
  dirty: boolean;
  persistedAt: number;
  timer: number | undefined;
  /** when the timer fires */
  timerAt: number;
};

type Row = { id: string; reply_to: string; bot_id: string; author: string; text: string; state: StreamState };

function cancel(stream: Held): void {
  if (stream.timer !== undefined) clearTimeout(stream.timer);
  stream.timer = undefined;
  stream.timerAt = Number.POSITIVE_INFINITY;
}

export class LiveStreams {
  private readonly held = new Map<string, Held>();
  private writes = 0;
  private pushes = 0;

  constructor(
    private readonly sql: SqlStorage,
    private readonly push: (frame: StreamFrame) => void,
  ) {}

  /** On wake: the streams storage holds (at most a second behind what the bot sent). */
  load(): void {
    for (const row of this.sql.exec<Row>(`SELECT id, reply_to, bot_id, author, text, state FROM streams`).toArray()) {
      const stream = {
        id: row.id,
        replyTo: row.reply_to,
        botId: row.bot_id,
        author: row.author,
        text: row.text,
        state: row.state,
      };
      // Every socket of the room learns this text through its hello or the next push, so pushing starts here.
      this.held.set(row.id, {
        ...stream,
        pushed: row.text.length,
        pushedState: row.state,
        lastPushAt: 0,
        dirty: false,
        persistedAt: Date.now(),
        timer: undefined,
        timerAt: Number.POSITIVE_INFINITY,
      });
    }
  }

  /**
   * The bot's text from `offset` on. A call starting past what the room holds changes nothing:
   * the answer says where to resend from.
   */
  write(call: StreamCall): StreamAck {
    // A new stream for a message replaces any other (a bot that lost its lease, interrupted).
    for (const other of this.held.values()) {
      if (other.replyTo === call.replyTo && other.id !== call.id) this.end(other.id);
    }
    let stream = this.held.get(call.id);
    if (!stream) {
      stream = {
        id: call.id,
        replyTo: call.replyTo,
        botId: call.botId,
        author: call.author,
        text: "",
        state: "streaming",
        pushed: 0,
        pushedState: null,
        lastPushAt: 0,
        dirty: true,
        persistedAt: 0,
        timer: undefined,
        timerAt: Number.POSITIVE_INFINITY,
      };
      this.held.set(call.id, stream);
    }
    if (call.offset <= stream.text.length) {
      const text = (stream.text.slice(0, call.offset) + call.delta).slice(0, MAX_TEXT);
      if (text.length > stream.text.length) {
        stream.text = text;
        stream.dirty = true;
      }
    }
    // Its bot is back (e.g. a renewal arrived after the alarm): the stream goes on.
    if (stream.state === "interrupted") this.setState(stream, "streaming");
    this.changed(stream);
    return { have: stream.text.length, stop: stream.state === "stopping" };
  }

  /** Stop pressed: the bot hears it in the answer to its next call. False when no such stream is being written. */
  requestStop(id: string): boolean {
    const stream = this.held.get(id);
    if (!stream || stream.state !== "streaming") return false;
    this.setState(stream, "stopping");
    this.changed(stream);
    return true;
  }

  /** Stop on every reply being written to `replyTo`: how many were asked to stop. */
  requestStopFor(replyTo: string): number {
    let stopped = 0;
    for (const stream of this.held.values()) if (stream.replyTo === replyTo && this.requestStop(stream.id)) stopped++;
    return stopped;
  }

  /** The human message the reply being written as `id` answers (null: no such stream). */
  replyToOf(id: string): string | null {
    return this.held.get(id)?.replyTo ?? null;
  }

  /** Streams whose bot no longer holds a live lease are interrupted; answers the earliest lease end still to watch. */
  interruptLapsed(leaseEnd: (stream: LiveStream & { botId: string }) => number | null, now: number): number | null {
    let next: number | null = null;
    for (const stream of this.held.values()) {
      if (stream.state === "interrupted") continue;
      const until = leaseEnd(stream);
      if (until === null || until <= now) {
        this.setState(stream, "interrupted");
        this.changed(stream);
      } else {
        next = next === null ? until : Math.min(next, until);
      }
    }
    return next;
  }

  /** Its bot gave the message back (release): viewers see the reply interrupted until another bot takes over. */
  interruptFor(replyTo: string): void {
    for (const stream of this.held.values()) {
      if (stream.replyTo !== replyTo || stream.state === "interrupted") continue;
      this.setState(stream, "interrupted");
      this.changed(stream);
    }
  }

  /** The message failed: its streams end (viewers drop them). */
  endFor(replyTo: string): void {
    for (const stream of [...this.held.values()]) if (stream.replyTo === replyTo) this.end(stream.id);
  }

  /** The room left do mode: nothing streams there, and a stream must not come back "streaming" after a flip back. */
  endAll(): void {
    for (const id of [...this.held.keys()]) this.end(id);
  }

  /**
   * The reply landed (its `message` frame tells viewers): its streams are forgotten, nothing
   * more is pushed for them.
   */
  dropFor(replyTo: string): void {
    for (const stream of [...this.held.values()]) {
      if (stream.replyTo !== replyTo) continue;
      cancel(stream);
      this.held.delete(stream.id);
      this.sql.exec(`DELETE FROM streams WHERE id = ?`, stream.id);
    }
  }

  /** What a socket gets in its hello: every stream with its whole text so far. */
  list(): LiveStream[] {
    return [...this.held.values()].map(({ id, replyTo, author, text, state }) => ({
      id,
      replyTo,
      author,
      text,
      state,
    }));
  }

  stats(): StreamStats {
    return { live: this.held.size, writes: this.writes, pushes: this.pushes };
  }

  private end(id: string): void {
    const stream = this.held.get(id);
    if (!stream) return;
    cancel(stream);
    this.held.delete(id);
    this.sql.exec(`DELETE FROM streams WHERE id = ?`, id);
    this.pushes++;
    this.push({
      type: "stream",
      id,
      replyTo: stream.replyTo,
      author: stream.author,
      offset: stream.text.length,
      delta: "",
      state: "ended",
    });
  }

  private setState(stream: Held, state: StreamState): void {
    stream.state = state;
    stream.dirty = true;
    // A state change is rare and must survive a restart: written now, not within the second.
    stream.persistedAt = 0;
  }

  /** Something changed: push and persist when their intervals allow, else when they next do. */
  private changed(stream: Held): void {
    const now = Date.now();
    const pushDue = stream.pushed < stream.text.length || stream.pushedState !== stream.state;
    const at = Math.min(
      pushDue ? Math.max(now, stream.lastPushAt + STREAM_PUSH_MS) : Number.POSITIVE_INFINITY,
      stream.dirty ? Math.max(now, stream.persistedAt + STREAM_PERSIST_MS) : Number.POSITIVE_INFINITY,
    );
    // A timer already set for this moment or sooner does it (a persist timer must not hold back a push).
    if (!Number.isFinite(at) || stream.timerAt <= at) return;
    cancel(stream);
    if (at <= now) return this.flush(stream);
    stream.timerAt = at;
    stream.timer = setTimeout(() => {
      stream.timer = undefined;
      stream.timerAt = Number.POSITIVE_INFINITY;
      if (this.held.get(stream.id) === stream) this.flush(stream);
    }, at - now);
  }

  private flush(stream: Held): void {
    const now = Date.now();
    if (stream.dirty && now >= stream.persistedAt + STREAM_PERSIST_MS) {
      this.sql.exec(
        `INSERT INTO streams (id, reply_to, bot_id, author, text, state) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET text = excluded.text, state = excluded.state, bot_id = excluded.bot_id`,
        stream.id,
        stream.replyTo,
        stream.botId,
        stream.author,
        stream.text,
        stream.state,
      );
      this.writes++;
      stream.dirty = false;
      stream.persistedAt = now;
    }
    const unpushed = stream.pushed < stream.text.length || stream.pushedState !== stream.state;
    if (unpushed && now >= stream.lastPushAt + STREAM_PUSH_MS) {
      this.pushes++;
      this.push({
        type: "stream",
        id: stream.id,
        replyTo: stream.replyTo,
        author: stream.author,
        offset: stream.pushed,
        delta: stream.text.slice(stream.pushed),
        state: stream.state,
      });
      stream.pushed = stream.text.length;
      stream.pushedState = stream.state;
      stream.lastPushAt = now;
    }
    this.changed(stream);
  }
}
