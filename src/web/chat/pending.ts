// The verification list: ids the server acknowledged but this browser has not yet
// seen in the room's list. Kept in localStorage (`pendingMessages`) so it survives a
// reload. Every change re-reads storage first, so two tabs do not overwrite each other.
import type { Message } from "../../shared/message";

export const PENDING_KEY = "pendingMessages";

export type PendingEntry = {
  id: string;
  room: string;
  author: string;
  text: string;
  createdAt: number;
  /** when the server acknowledged it; a list fetched before this cannot prove anything */
  ackedAt: number;
};

export class PendingStore {
  constructor(private readonly storage: Storage = localStorage) {}

  all(): PendingEntry[] {
    let parsed: unknown;
    try {
      parsed = JSON.parse(this.storage.getItem(PENDING_KEY) ?? "[]");
    } catch {
      return [];
    }
    return Array.isArray(parsed) ? parsed.filter(isEntry) : [];
  }

  forRoom(room: string): PendingEntry[] {
    return this.all().filter((entry) => entry.room === room);
  }

  rooms(): string[] {
    return [...new Set(this.all().map((entry) => entry.room))];
  }

  has(id: string): boolean {
    return this.all().some((entry) => entry.id === id);
  }

  add(message: Message, ackedAt: number): void {
    const entries = this.all().filter((entry) => entry.id !== message.id);
    entries.push({ id: message.id, room: message.room, author: message.author, text: message.text, createdAt: message.createdAt, ackedAt });
    this.write(entries);
  }

  /** Drops the given ids; returns the ones that were pending. */
  remove(ids: Iterable<string>): string[] {
    const drop = new Set(ids);
    const entries = this.all();
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
  return typeof entry.id === "string" && typeof entry.room === "string" && typeof entry.createdAt === "number" && typeof entry.ackedAt === "number";
}
