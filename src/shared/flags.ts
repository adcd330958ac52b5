// The operator flag: which path (kv or do) serves each room. Shared so the
// operator page and the race lab speak the same document as the Worker.
import type { CacheMode } from "./message";

export type Flags = {
  defaultMode: CacheMode;
  /** rooms whose name hashes below this percentage use do mode */
  doPercent: number;
  /** per-room overrides */
  rooms: Record<string, CacheMode>;
};

/** The stored document: the flag plus a version bumped on every change. */
export type FlagsDocument = Flags & { version: number; updatedAt: number; updatedBy: string };

export type FlagAuditEntry = {
  at: number;
  who: string;
  before: Flags;
  after: Flags;
};

/** A stable 0..99 bucket for a room name (FNV-1a), so doPercent picks the same rooms everywhere. */
export function roomBucket(room: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < room.length; i++) {
    hash ^= room.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % 100;
}

export function resolveMode(flags: Flags, room: string): CacheMode {
  // Own properties only: a room called "constructor" must not find Object.prototype's.
  const override = Object.hasOwn(flags.rooms, room) ? flags.rooms[room] : undefined;
  if (override === "kv" || override === "do") return override;
  if (roomBucket(room) < flags.doPercent) return "do";
  return flags.defaultMode;
}

/** The flag before any operator change: every room on `CACHE_MODE` (kv unless it says do). */
export function defaultFlags(cacheMode: string | undefined): FlagsDocument {
  return { defaultMode: cacheMode === "do" ? "do" : "kv", doPercent: 0, rooms: {}, version: 0, updatedAt: 0, updatedBy: "default" };
}
