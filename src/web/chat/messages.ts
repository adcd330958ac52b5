// The room's messages as this page knows them, merged from polls, catch-ups and pushes.
import type { Message } from "../../shared/message";

const FINISHED = new Set(["complete", "failed"]);

export class MessageStore {
  private readonly byId = new Map<string, Message>();
  /** Newest change position seen (do mode: `pos`), the `since` of the next catch-up. */
  lastPos = 0;

  has(id: string): boolean {
    return this.byId.has(id);
  }

  get(id: string): Message | undefined {
    return this.byId.get(id);
  }

  /**
   * Adds or updates messages; returns true when anything visible changed. `older`: a
   * scroll-back page, which must not move `lastPos` (an old message's recent change would
   * hide a gap the catch-up still has to fill).
   */
  merge(messages: Iterable<Message>, older = false): boolean {
    let changed = false;
    for (const message of messages) {
      // Only `pos` is a cursor: `seq` is the log order, which positions run ahead of.
      if (message.pos !== undefined && !older) this.lastPos = Math.max(this.lastPos, message.pos);
      const known = this.byId.get(message.id);
      // An operator deleted it (a pushed or caught-up tombstone): it leaves the page.
      if (message.deleted) {
        changed = this.byId.delete(message.id) || changed;
        continue;
      }
      // A poll answered before a pushed update must not undo it: finished stays finished, unless
      // a later change position says it was asked again (regenerate).
      const later = known?.pos !== undefined && message.pos !== undefined && message.pos > known.pos;
      if (known && FINISHED.has(known.status) && !FINISHED.has(message.status) && !later) continue;
      // Nor an older state of it (an edit, a reaction): a change position only grows.
      if (known?.pos !== undefined && message.pos !== undefined && message.pos < known.pos) continue;
      if (known && sameView(known, message)) continue;
      this.byId.set(message.id, message);
      changed = true;
    }
    return changed;
  }

  /** The smallest log position (`seq`) held: where the next scroll-back page ends (null: none, e.g. kv). */
  oldestSeq(): number | null {
    let oldest: number | null = null;
    for (const message of this.byId.values())
      if (message.seq !== undefined && (oldest === null || message.seq < oldest)) oldest = message.seq;
    return oldest;
  }

  /** Oldest first; createdAt orders both modes alike (kv messages have no seq), the log order breaks ties. */
  sorted(): Message[] {
    return [...this.byId.values()].sort(
      (a, b) => a.createdAt - b.createdAt || (a.seq ?? 0) - (b.seq ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
  }
}

function sameView(a: Message, b: Message): boolean {
  return (
    a.status === b.status &&
    a.error === b.error &&
    a.text === b.text &&
    a.author === b.author &&
    a.seq === b.seq &&
    a.stopped === b.stopped &&
    a.version === b.version &&
    JSON.stringify(a.reactions) === JSON.stringify(b.reactions)
  );
}
