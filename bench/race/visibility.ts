// What every tab of a round received, from polls and pushes: when each message
// first became visible to anyone, which AI replies appeared, and whether any list
// ever showed the same message twice.
import type { Message } from "../../src/shared/message";
import type { Listing } from "../lib/api";
import type { TabEvents } from "../lib/tab";

export class VisibilityLog {
  /** id → wall-clock ms when some tab first received it */
  readonly firstSeen = new Map<string, number>();
  /** id → the Worker's createdAt, from the message itself */
  readonly createdAt = new Map<string, number>();
  /** ids some list showed more than once */
  readonly duplicateIds = new Set<string>();
  /** every AI reply any tab received, by id */
  readonly aiReplies = new Map<string, Message>();
  pushesReceived = 0;

  readonly events: TabEvents = {
    onListing: (listing) => this.onListing(listing),
    onPush: (message, receivedAt) => {
      this.pushesReceived++;
      this.saw(message, receivedAt);
    },
  };

  onListing(listing: Listing): void {
    const ids = new Set<string>();
    for (const message of listing.comments) {
      if (ids.has(message.id)) this.duplicateIds.add(message.id);
      ids.add(message.id);
      this.saw(message, listing.receivedAt);
    }
  }

  private saw(message: Message, at: number): void {
    if (!this.firstSeen.has(message.id)) this.firstSeen.set(message.id, at);
    this.createdAt.set(message.id, message.createdAt);
    if (message.kind === "ai") this.aiReplies.set(message.id, message);
  }

  /**
   * ms from the Worker stamping `id` (createdAt) until some tab first received it;
   * undefined if no tab ever did. Same clock locally; with --url, clock skew applies.
   */
  timeToVisible(id: string): number | undefined {
    const at = this.firstSeen.get(id);
    const created = this.createdAt.get(id);
    return at === undefined || created === undefined ? undefined : Math.max(0, at - created);
  }
}
