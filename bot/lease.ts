// A held claim on one human message. While the bot generates, it renews the lease
// by claiming again with the same botId (a claim by the holder renews it), so a slow
// model never loses its message; if the Worker refuses a renewal, `lost` fires.
import { HttpError, type ChatApi, type MessageRef } from "./api";
import type { Message } from "../src/shared/message";

const MIN_RENEW_MS = 200;

export class Lease {
  private readonly lostController = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;
  private stopped = false;

  private constructor(
    private readonly api: ChatApi,
    readonly message: Message,
    private readonly botId: string,
    leaseUntil: number,
  ) {
    this.schedule(leaseUntil);
  }

  /** Claims the message; null if another bot holds it or it no longer needs an answer. */
  static async take(api: ChatApi, message: MessageRef, botId: string): Promise<Lease | null> {
    try {
      const claim = await api.claim(message, botId);
      return new Lease(api, claim.message, botId, claim.leaseUntil);
    } catch (err) {
      // 410: an operator deleted the message; it needs no answer.
      if (err instanceof HttpError && (err.status === 409 || err.status === 404 || err.status === 410)) return null;
      throw err;
    }
  }

  /** Fires when a renewal is refused: another bot owns the message now. */
  get lost(): AbortSignal {
    return this.lostController.signal;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /**
   * Stops renewing and waits for a renewal in flight. Called before posting the reply:
   * in kv mode a renewal is a read-modify-write of the room's cache and could overwrite the reply.
   */
  async quiesce(): Promise<void> {
    this.stop();
    await this.inflight;
  }

  /** Gives the message back so another attempt (or bot) can take it; best effort, the lease expires anyway. */
  async release(): Promise<void> {
    this.stop();
    if (this.lost.aborted) return;
    await this.api.release(this.message, this.botId).catch(() => undefined);
  }

  private schedule(leaseUntil: number): void {
    if (this.stopped) return;
    // A third of the remaining lease leaves two more chances if a renewal fails.
    const delay = Math.max(MIN_RENEW_MS, (leaseUntil - Date.now()) / 3);
    this.timer = setTimeout(() => {
      this.inflight = this.renew(leaseUntil);
    }, delay);
  }

  private async renew(previousUntil: number): Promise<void> {
    if (this.stopped) return;
    try {
      const claim = await this.api.claim(this.message, this.botId);
      this.schedule(claim.leaseUntil);
    } catch (err) {
      if (this.stopped) return;
      if (err instanceof HttpError && !err.unavailable) {
        this.lostController.abort(new Error(`lease on ${this.message.id} lost: ${err.message}`));
        return;
      }
      this.schedule(previousUntil); // Worker unreachable: try again sooner, the lease still runs
    }
  }
}
