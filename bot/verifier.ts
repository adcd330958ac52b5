// The bot's self-heal layer: the shared verifier (src/client/verifier.ts) over the
// bot's state file, checking every acknowledged AI reply against its room's recent
// list on each poll, with the first version's log lines (the race lab reads them, see
// bench/lib/bot-process.ts).
import { Verifier } from "../src/client/verifier";
import type { ChatApi } from "./api";
import type { Logger } from "./config";
import type { PendingReply, PendingStore } from "./state";

/** The first version's heal check reads this many recent messages (the cache's whole size). */
const VERIFY_LIMIT = 200;

export class ReplyVerifier {
  private readonly verifier: Verifier<PendingReply>;
  private hadPending: boolean;

  /**
   * @param settleMs a reply is first checked one poll after its acknowledgement, as in the first version,
   *   so writes already in flight when it was stored have landed before it counts as found.
   */
  constructor(
    private readonly api: ChatApi,
    private readonly store: PendingStore,
    private readonly log: Logger,
    settleMs = 0,
  ) {
    this.hadPending = store.size > 0;
    this.verifier = new Verifier(store, {
      heal: (entry) => api.heal(entry.id, entry.room),
      settleMs,
      events: {
        onVerified: (entry, by) =>
          log(
            `[Self-Heal] ✅ AI response found in cache: ${entry.id}${by === "heal" ? " (the heal found it already there)" : ""}`,
          ),
        onOutOfWindow: (entry) =>
          log(
            `[Self-Heal] AI response ${entry.id} is older than the newest ${VERIFY_LIMIT} messages of #${entry.room}; no longer checked`,
          ),
        onHeal: (entry) => log(`[Self-Heal] AI response missing, triggering heal: ${entry.id}`),
        onReadded: (entry, answer) =>
          log(`[Self-Heal] Heal re-added ${entry.id} to the ${answer.mode} cache of #${entry.room}`),
        onHealFailed: (entry, reason, waitMs) =>
          log(`[Self-Heal] Heal of ${entry.id} failed (${reason}); retrying in ${waitMs} ms`),
        onHealsPaused: (waitMs) =>
          log(`[Self-Heal] Heal rate-limited; pausing heals for ${Math.round(waitMs / 1000)}s`),
        onGaveUp: (entry, reason, status) =>
          log(
            status === 410
              ? `[Self-Heal] AI response ${entry.id} was deleted by an operator; no longer checked`
              : `[Self-Heal] Heal of ${entry.id} refused (${reason}); no longer checked`,
          ),
      },
    });
  }

  get pendingCount(): number {
    return this.store.size;
  }

  /** Only replies the server acknowledged get here. */
  add(reply: PendingReply): void {
    this.verifier.add(reply);
    this.hadPending = true;
    this.log(`[Self-Heal] Added AI response to pending: ${reply.id}`);
  }

  /** One verification pass over every room with replies due a check. A failed list read propagates. */
  async verify(): Promise<void> {
    for (const room of this.verifier.dueRooms()) {
      const requestedAt = Date.now();
      await this.verifier.check(room, await this.api.recent(room, VERIFY_LIMIT), requestedAt, VERIFY_LIMIT);
    }
    if (this.hadPending && this.store.size === 0) {
      this.hadPending = false;
      this.log("[Self-Heal] All pending AI responses verified");
    }
  }
}
