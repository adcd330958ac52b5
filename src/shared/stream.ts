// Streaming AI replies (do rooms): the shapes shared by the room, the Worker, the bot,
// the page and the lab, and the one rule for applying a stream frame to text already held.
import type { Message } from "./message";

/**
 * streaming: the bot is writing; stopping: someone pressed Stop, the bot has not answered yet;
 * interrupted: its bot's lease ran out (or it gave the message back), the next bot takes over;
 * ended: gone without a reply of its id (another bot's stream replaced it, or the message failed).
 * A stream whose reply landed is simply dropped: the `message` frame of the reply says so.
 */
export type StreamState = "streaming" | "stopping" | "interrupted" | "ended";

/** A reply in progress as a viewer needs it. Its `id` is the id the finished reply will have. */
export type LiveStream = { id: string; replyTo: string; author: string; text: string; state: StreamState };

/**
 * Room → client: `delta` replaces the text from `offset` on (offset = characters held before it).
 * The text only grows, so a delta that overlaps what a client already holds repeats nothing.
 */
export type StreamFrame = {
  type: "stream";
  id: string;
  replyTo: string;
  author: string;
  offset: number;
  delta: string;
  state: StreamState;
};

/** Bot → room (POST /api/bot/stream): the text from `offset` on. */
export type StreamCall = { id: string; replyTo: string; botId: string; author: string; offset: number; delta: string };
/** The room's answer: how many characters it holds (send from there next) and whether Stop was pressed. */
export type StreamAck = { have: number; stop: boolean };

/** A room's streams (GET /api/admin/rooms/<room>): live now, and storage writes and pushes since it woke. */
export type StreamStats = { live: number; writes: number; pushes: number };

/** Pushes of one stream are batched: at most one frame per this many ms. */
export const STREAM_PUSH_MS = 50;
/** A stream's text is written to storage at most once per this many ms. */
export const STREAM_PERSIST_MS = 1000;
/** The bot sends its text at most this often, and at least every STREAM_HEARTBEAT_MS (to hear about Stop). */
export const STREAM_SEND_MS = 100;
export const STREAM_HEARTBEAT_MS = 1000;

/**
 * The text after applying `frame` to `held`; null when the frame starts past the end of
 * `held` (a gap: the caller keeps its text until a hello gives the whole of it again).
 */
export function applyDelta(held: string, offset: number, delta: string): string | null {
  if (offset > held.length) return null;
  const next = held.slice(0, offset) + delta;
  // An overlap repeats characters already held (after a room restart): never shorten the text.
  return next.length >= held.length ? next : held;
}

/** The streams a client shows: from hello, stream frames, and the replies that end them. */
export class StreamView {
  private readonly byId = new Map<string, LiveStream>();
  /** Frames that found a gap (should be 0: the room never skips text on one socket). */
  gaps = 0;

  /** A hello is the whole truth at connect time. */
  reset(streams: LiveStream[] = []): void {
    this.byId.clear();
    for (const stream of streams) this.byId.set(stream.id, { ...stream });
  }

  /** Applies a frame; returns true when something visible changed. */
  apply(frame: StreamFrame): boolean {
    if (frame.state === "ended") return this.byId.delete(frame.id);
    const held = this.byId.get(frame.id);
    const text = applyDelta(held?.text ?? "", frame.offset, frame.delta);
    if (text === null) {
      this.gaps++;
      if (held && held.state !== frame.state) held.state = frame.state;
      return held !== undefined;
    }
    // Another stream for the same message is replaced by this one.
    for (const other of this.byId.values())
      if (other.replyTo === frame.replyTo && other.id !== frame.id) this.byId.delete(other.id);
    this.byId.set(frame.id, { id: frame.id, replyTo: frame.replyTo, author: frame.author, text, state: frame.state });
    return true;
  }

  /** A message arrived: a reply ends every stream of the message it answers; a failed or deleted message ends its streams. */
  settle(message: Message): boolean {
    let changed = false;
    for (const stream of this.byId.values()) {
      const answered = message.kind === "ai" && (message.id === stream.id || message.replyTo === stream.replyTo);
      const failed =
        message.kind === "human" &&
        message.id === stream.replyTo &&
        (message.status === "failed" || message.status === "complete" || message.deleted === true);
      if (answered || failed) changed = this.byId.delete(stream.id) || changed;
    }
    return changed;
  }

  get(id: string): LiveStream | undefined {
    return this.byId.get(id);
  }

  list(): LiveStream[] {
    return [...this.byId.values()];
  }
}
