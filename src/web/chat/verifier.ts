// The verification layer (docs/architecture.md): every acknowledged id stays pending until the
// page sees it in the room's list; ids a full list lacks are healed through
// POST /api/admin/add-to-cache. No attempt limit: a pending id is checked until seen.
import type { Message } from "../../shared/message";
import { HttpError, describeError } from "../../client/http";
import { healMessage } from "./api";
import type { PendingEntry, PendingStore } from "./pending";

/** "deleted": an operator deleted it (heal answered 410): final, no longer verified or shown. */
export type OwnState = "sending" | "retrying" | "waiting" | "sent" | "verified" | "healing" | "deleted";

export class Verifier {
  private readonly inFlight = new Set<string>();
  private pausedUntil = 0;

  constructor(
    private readonly pending: PendingStore,
    private readonly onState: (id: string, state: OwnState) => void,
  ) {}

  /** Ids seen in a poll, a catch-up or a push are in the room's list: verified. Returns how many were pending. */
  /** Ids an operator deleted (a tombstone, or a heal answered 410): final, stop verifying them. */
  deleted(ids: Iterable<string>): void {
    const gone = this.pending.remove(ids);
    for (const id of gone) this.onState(id, "deleted");
  }

  seen(ids: Iterable<string>): number {
    const verified = this.pending.remove(ids);
    for (const id of verified) this.onState(id, "verified");
    return verified.length;
  }

  /**
   * `list` is the room's newest `limit` messages, fetched at `requestedAt`. A pending id
   * acknowledged before that request and absent from the list is missing, so it is healed.
   * Resolves true when a heal put something back, so the caller checks again soon.
   */
  async check(room: string, list: Message[], requestedAt: number, limit: number): Promise<boolean> {
    this.seen(list.map((m) => m.id));
    const full = list.length >= limit;
    const oldest = list[0]?.createdAt ?? Infinity;
    const missing: PendingEntry[] = [];
    const scrolledOut: string[] = [];
    for (const entry of this.pending.forRoom(room)) {
      if (entry.ackedAt > requestedAt) continue;
      // Older than a full window: newer messages pushed it out, nothing was lost.
      if (full && entry.createdAt < oldest) scrolledOut.push(entry.id);
      else missing.push(entry);
    }
    this.seen(scrolledOut);
    const readded = await Promise.all(missing.map((entry) => this.heal(entry)));
    return readded.some(Boolean);
  }

  private async heal(entry: PendingEntry): Promise<boolean> {
    if (this.inFlight.has(entry.id) || Date.now() < this.pausedUntil) return false;
    this.inFlight.add(entry.id);
    this.onState(entry.id, "healing");
    console.info(`[Self-Heal] message missing, triggering heal: ${entry.id}`);
    try {
      const { body } = await healMessage(entry.id);
      // The server found it already there: that is as good as seeing it.
      if (!body.readded) this.seen([entry.id]);
      return body.readded;
    } catch (err) {
      if (err instanceof HttpError && err.status === 410) {
        this.deleted([entry.id]);
        return false;
      }
      if (err instanceof HttpError && err.status === 429) this.pausedUntil = Date.now() + (err.retryAfterMs ?? 60_000);
      console.warn(`[Self-Heal] heal of ${entry.id} failed (${describeError(err)}); will retry`);
      return false;
    } finally {
      this.inFlight.delete(entry.id);
    }
  }
}
