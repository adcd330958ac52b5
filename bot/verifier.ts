// The self-heal layer kept from the seed: every acknowledged AI reply is checked
// against its room's cache on each poll; a missing one is re-added through the heal
// endpoint. No attempt limit: an id leaves the list only once it has been seen.
import { HttpError, type ChatApi } from "./api";
import type { Logger } from "./config";
import type { PendingReply, PendingStore } from "./state";

/** The seed's heal check reads this many recent messages (the cache's whole size). */
const VERIFY_LIMIT = 200;

export class Verifier {
  /** Heals are rate-limited per address; after a 429 wait as told. */
  private healPausedUntil = 0;
  private hadPending: boolean;

  /**
   * @param settleMs a reply is first checked one poll after its acknowledgement, as in the seed,
   *   so writes already in flight when it was stored have landed before it counts as found.
   */
  constructor(private readonly api: ChatApi, private readonly store: PendingStore, private readonly log: Logger, private readonly settleMs = 0) {
    this.hadPending = store.size > 0;
  }

  get pendingCount(): number {
    return this.store.size;
  }

  /** Only replies the server acknowledged get here. */
  add(reply: PendingReply): void {
    this.store.add(reply);
    this.hadPending = true;
    this.log(`[Self-Heal] Added AI response to pending: ${reply.id}`);
  }

  /** One verification pass over every room with pending replies. Worker errors propagate. */
  async verify(): Promise<{ found: number; healed: number }> {
    const byRoom = new Map<string, PendingReply[]>();
    const due = Date.now() - this.settleMs;
    for (const entry of this.store.list()) if (entry.addedAt <= due) byRoom.set(entry.room, [...(byRoom.get(entry.room) ?? []), entry]);
    let found = 0;
    let healed = 0;
    for (const [room, entries] of byRoom) {
      const recent = await this.api.recent(room, VERIFY_LIMIT);
      const seen = new Set(recent.map((m) => m.id));
      // A full list whose oldest message is newer than a reply: the reply aged out of the
      // recent window (a busy room), it was not lost; a heal could never bring it back into view.
      const windowStart = recent.length >= VERIFY_LIMIT ? (recent[0]?.createdAt ?? 0) : 0;
      for (const entry of entries) {
        if (seen.has(entry.id)) {
          this.verified(entry, "");
          found++;
        } else if (entry.addedAt < windowStart) {
          this.store.remove(entry.id);
          this.log(`[Self-Heal] AI response ${entry.id} is older than the newest ${VERIFY_LIMIT} messages of #${room}; no longer checked`);
        } else if (await this.heal(entry)) {
          healed++;
        }
      }
    }
    if (this.hadPending && this.store.size === 0) {
      this.hadPending = false;
      this.log("[Self-Heal] All pending AI responses verified");
    }
    return { found, healed };
  }

  private verified(entry: PendingReply, note: string): void {
    this.store.remove(entry.id);
    this.log(`[Self-Heal] ✅ AI response found in cache: ${entry.id}${note}`);
  }

  /** Asks the Worker to re-add one missing reply; it stays pending until a later pass sees it. */
  private async heal(entry: PendingReply): Promise<boolean> {
    if (Date.now() < this.healPausedUntil) return false;
    this.log(`[Self-Heal] AI response missing, triggering heal: ${entry.id}`);
    try {
      const result = await this.api.heal(entry.id);
      if (result.readded) {
        this.log(`[Self-Heal] Heal re-added ${entry.id} to the ${result.mode} cache of #${entry.room}`);
      } else {
        // The Worker found it already in the room's list: as good as seeing it ourselves.
        this.verified(entry, " (the heal found it already there)");
      }
      return true;
    } catch (err) {
      if (err instanceof HttpError && err.status === 429) {
        this.healPausedUntil = Date.now() + (err.retryAfterMs ?? 60_000);
        this.log(`[Self-Heal] Heal rate-limited; pausing heals for ${Math.round((this.healPausedUntil - Date.now()) / 1000)}s`);
        return false;
      }
      if (err instanceof HttpError && err.unavailable) throw err;
      if (err instanceof HttpError && err.status === 410) {
        // An operator deleted the reply: final, nothing to verify any more.
        this.store.remove(entry.id);
        this.log(`[Self-Heal] AI response ${entry.id} was deleted by an operator; no longer checked`);
        return false;
      }
      this.log(`[Self-Heal] Heal of ${entry.id} refused: ${(err as Error).message}; will retry`);
      return false;
    }
  }
}
