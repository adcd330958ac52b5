// The ids a sender's verifier still has to see: acknowledged by the server, not yet
// shown by the room. Each sender keeps them where it survives what it must survive:
// the page in localStorage (a reload), the bot in its state file (a restart), the
// lab's tabs in memory (one round).

/** An acknowledged message not yet seen in its room's list. */
export type PendingId = {
  id: string;
  room: string;
  /** the Worker's timestamp on the message: decides whether a full list's window still covers it */
  createdAt: number;
  /** when the server acknowledged it (the verifier's clock); a list requested before this proves nothing */
  ackedAt: number;
};

/** The persistence hook of the verifier (src/client/verifier.ts). */
export interface PendingIds<E extends PendingId = PendingId> {
  list(): E[];
  add(entry: E): void;
  /** Drops the given ids; returns the ones that were pending. */
  remove(ids: Iterable<string>): string[];
}

/** Pending ids that need to outlive nothing but this process. */
export class MemoryPendingIds<E extends PendingId = PendingId> implements PendingIds<E> {
  private readonly entries = new Map<string, E>();

  list(): E[] {
    return [...this.entries.values()];
  }

  add(entry: E): void {
    this.entries.set(entry.id, entry);
  }

  remove(ids: Iterable<string>): string[] {
    const removed: string[] = [];
    for (const id of ids) if (this.entries.delete(id)) removed.push(id);
    return removed;
  }
}
