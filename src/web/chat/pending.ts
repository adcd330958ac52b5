// The page's pending ids (the verifier's persistence hook, src/client/pending-ids.ts):
// ids the server acknowledged but this browser has not yet seen in the room's list.
// Kept in localStorage (`pendingMessages`) so it survives a reload. Every change
// re-reads storage first, so two tabs do not overwrite each other.
import type { PendingId, PendingIds } from "../../client/pending-ids";

export const PENDING_KEY = "pendingMessages";

/** A pending id with what the page needs to show it again after a reload. */
export type PendingEntry = PendingId & { author: string; text: string };

export class PendingStore implements PendingIds<PendingEntry> {
  constructor(private readonly storage: Storage = localStorage) {}

  list(): PendingEntry[] {
    let parsed: unknown;
    try {
      parsed = JSON.parse(this.storage.getItem(PENDING_KEY) ?? "[]");
    } catch {
      return [];
    }
    return Array.isArray(parsed) ? parsed.filter(isEntry) : [];
  }

  forRoom(room: string): PendingEntry[] {
    return this.list().filter((entry) => entry.room === room);
  }

  add(entry: PendingEntry): void {
    this.write([...this.list().filter((other) => other.id !== entry.id), entry]);
  }

  /** Drops the given ids; returns the ones that were pending. */
  remove(ids: Iterable<string>): string[] {
    const drop = new Set(ids);
    const entries = this.list();
    const removed = entries.filter((entry) => drop.has(entry.id)).map((entry) => entry.id);
    if (removed.length) this.write(entries.filter((entry) => !drop.has(entry.id)));
    return removed;
  }

  private write(entries: PendingEntry[]): void {
    if (entries.length) this.storage.setItem(PENDING_KEY, JSON.stringify(entries));
    else this.storage.removeItem(PENDING_KEY);
  }
}

function isEntry(value: unknown): value is PendingEntry {
  if (!value || typeof value !== "object") return false;
  const entry = value as Record<string, unknown>;
  return (
    typeof entry.id === "string" &&
    typeof entry.room === "string" &&
    typeof entry.createdAt === "number" &&
    typeof entry.ackedAt === "number"
  );
}
