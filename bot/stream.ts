// The reply as it is being written: the bot sends the growing text to the room (POST
// /api/bot/stream) at most every STREAM_SEND_MS, one call at a time, each from where the
// room says it holds (so a restarted room gets back what it lost), and at least every
// STREAM_HEARTBEAT_MS so it hears about Stop while the model is quiet. Streaming is a
// courtesy to viewers: when the room refuses it (kv room, lease gone) the bot goes on
// without it and the finished reply is posted as before.
import { STREAM_HEARTBEAT_MS, STREAM_SEND_MS, type StreamAck } from "../src/shared/stream";
import { HttpError, type ChatApi } from "./api";

export type StreamTarget = { id: string; room: string; replyTo: string; botId: string; author: string };

export class ReplyStream {
  private text = "";
  private have = 0;
  private lastSentAt = 0;
  private inflight: Promise<void> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  private off = false;
  private readonly stop = new AbortController();
  private readonly gone = new AbortController();

  constructor(
    private readonly api: ChatApi,
    private readonly target: StreamTarget,
    private readonly log: (line: string) => void,
  ) {
    this.heartbeat = setInterval(() => this.send(), STREAM_HEARTBEAT_MS);
  }

  /** Fires when someone pressed Stop on this reply. */
  get stopRequested(): AbortSignal {
    return this.stop.signal;
  }

  /** Fires when the room answers 410: an operator deleted the message, its stream was dropped. */
  get deleted(): AbortSignal {
    return this.gone.signal;
  }

  /** The text written so far. */
  get written(): string {
    return this.text;
  }

  /** The model's text so far (it only grows). */
  update(text: string): void {
    this.text = text;
    if (this.off || this.inflight || this.timer) return;
    const wait = this.lastSentAt + STREAM_SEND_MS - Date.now();
    if (wait <= 0) this.send();
    else this.timer = setTimeout(() => this.send(), wait);
  }

  /** No more calls: waits for the one in flight, so none lands after the reply. */
  async finish(): Promise<void> {
    this.off = true;
    clearTimeout(this.timer);
    clearInterval(this.heartbeat);
    await this.inflight;
  }

  private send(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.off || this.inflight) return;
    this.lastSentAt = Date.now();
    const offset = this.have;
    const call = { ...this.target, offset, delta: this.text.slice(offset) };
    this.inflight = this.api
      .stream(call)
      .then((ack) => this.answered(ack))
      .catch((err) => this.refused(err))
      .finally(() => {
        this.inflight = null;
        if (this.text.length > this.have) this.update(this.text);
      });
  }

  private answered(ack: StreamAck): void {
    this.have = ack.have;
    if (ack.stop && !this.stop.signal.aborted)
      this.stop.abort(new Error(`reply ${this.target.id} stopped by a viewer`));
  }

  private refused(err: unknown): void {
    // A Worker that does not answer now may later: the next call sends from the same offset.
    if (err instanceof HttpError && err.unavailable) return;
    this.off = true;
    clearInterval(this.heartbeat);
    if (err instanceof HttpError && err.status === 410)
      return this.gone.abort(new Error(`the room dropped reply ${this.target.id}: ${err.message}`));
    const kv = err instanceof HttpError && err.status === 409 && /kv rooms/.test(err.message);
    this.log(
      kv
        ? `[Bot] #${this.target.room} is a kv room: no streaming, the reply is posted when it is whole`
        : `[Bot] Streaming reply ${this.target.id} stopped: ${(err as Error).message}`,
    );
  }
}
