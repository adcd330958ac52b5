// The room's messages as this page knows them, merged from polls, catch-ups and pushes.
import type { Message } from "../../shared/message";

const FINISHED = new Set(["complete", "failed"]);

export class MessageStore {
  private readonly byId = new Map<string, Message>();
  /** Newest change position seen (do mode: `pos`), the `since` of the next catch-up. */
  lastSeq = 0;

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Adds or updates messages; returns true when anything visible changed. */
  merge(messages: Iterable<Message>): boolean {
    let changed = false;
    for (const message of messages) {
      const position = message.pos ?? message.seq;
      if (position !== undefined) this.lastSeq = Math.max(this.lastSeq, position);
      const known = this.byId.get(message.id);
      // An operator deleted it (a pushed or caught-up tombstone): it leaves the page.
      if (message.deleted) {
        changed = this.byId.delete(message.id) || changed;
        continue;
      }
      // A poll answered before a pushed update must not undo it: finished stays finished.
      if (known && FINISHED.has(known.status) && !FINISHED.has(message.status)) continue;
      if (known && sameView(known, message)) continue;
      this.byId.set(message.id, message);
      changed = true;
    }
    return changed;
  }

  /** Oldest first; createdAt orders both modes alike (kv messages have no seq). */
  sorted(): Message[] {
    return [...this.byId.values()].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}

function sameView(a: Message, b: Message): boolean {
  return a.status === b.status && a.error === b.error && a.text === b.text && a.author === b.author && a.seq === b.seq;
}
