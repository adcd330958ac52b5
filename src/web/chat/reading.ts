// Where the reader stopped: the newest message they have seen (kept per room in localStorage,
// so it survives a reload), the "new messages" divider shown when they come back, and how
// many messages from others arrived since, for the tab title and the jump-to-latest button.
import type { Message } from "../../shared/message";

const key = (room: string) => `seenUpTo:${room}`;

export class ReadingPlace {
  /** createdAt of the newest message the reader has seen at the bottom of a visible page. */
  private seenUpTo: number;
  /** Messages newer than this get the divider above them; null: no divider. */
  private dividerAfter: number | null;

  constructor(
    private readonly room: string,
    private readonly storage: Storage = localStorage,
  ) {
    this.seenUpTo = Number(storage.getItem(key(room)) ?? 0);
    // A first visit has nothing to mark; a return marks what came since the last one.
    this.dividerAfter = this.seenUpTo > 0 ? this.seenUpTo : null;
  }

  /** The reader is looking at the newest messages: everything shown counts as seen. */
  sawUpTo(messages: Message[]): void {
    const newest = Math.max(this.seenUpTo, ...messages.map((m) => m.createdAt));
    if (newest === this.seenUpTo) return;
    this.seenUpTo = newest;
    this.storage.setItem(key(this.room), String(newest));
  }

  /** Back on the page (or the tab shown again): what arrived meanwhile gets the divider. */
  returned(): void {
    this.dividerAfter = this.seenUpTo;
  }

  /** The reader wrote: they are caught up, the divider goes. */
  wrote(): void {
    this.dividerAfter = null;
  }

  /** The first message from someone else the reader has not seen since returning, if any. */
  dividerBefore(messages: Message[], own: (m: Message) => boolean): string | null {
    if (this.dividerAfter === null) return null;
    const after = this.dividerAfter;
    return messages.find((m) => m.createdAt > after && !own(m) && !m.deleted)?.id ?? null;
  }

  /** Messages from others the reader has not seen. */
  unseen(messages: Message[], own: (m: Message) => boolean): number {
    return messages.filter((m) => m.createdAt > this.seenUpTo && !own(m) && !m.deleted).length;
  }
}
