// The operator flag: which path (kv or do) serves each room. Shared so the
// operator page and the race lab speak the same document as the Worker.
import type { PathMode } from "./message";

export type Flags = {
  defaultMode: PathMode;
  /** rooms whose name hashes below this percentage use do mode */
  doPercent: number;
  /** per-room overrides */
  rooms: Record<string, PathMode>;
};

/** The stored document: the flag plus a version bumped on every change. */
export type FlagsDocument = Flags & { version: number; updatedAt: number; updatedBy: string };

export type FlagAuditEntry = {
  at: number;
  who: string;
  before: Flags;
  after: Flags;
};

/** FNV-1a of a room name: stable everywhere, so every isolate picks the same rooms and shards. */
function roomHash(room: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < room.length; i++) {
    hash ^= room.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** A stable 0..99 bucket for a room name, so doPercent picks the same rooms everywhere. */
export function roomBucket(room: string): number {
  return roomHash(room) % 100;
}

/**
 * Registry shards that list the rooms in do mode (src/control/registry.ts). Fixed for a
 * deployment: changing it would move rooms to other shards. 64 keep a flip of 1,000,000
 * rooms to about 16,000 registrations per shard (docs/architecture.md).
 */
export const REGISTRY_SHARDS = 64;

/** The registry shard a room registers with. */
export function registryShardOf(room: string): number {
  return roomHash(room) % REGISTRY_SHARDS;
}

/** Rooms one PUT of the flag flushes at most: a flip of thousands of rooms takes several PUTs (202, then the same PUT). */
export const FLIP_ROOMS_PER_PUT = 500;

export function resolveMode(flags: Flags, room: string): PathMode {
  // Own properties only: a room called "constructor" must not find Object.prototype's.
  const override = Object.hasOwn(flags.rooms, room) ? flags.rooms[room] : undefined;
  if (override === "kv" || override === "do") return override;
  if (roomBucket(room) < flags.doPercent) return "do";
  return flags.defaultMode;
}

/** The flag before any operator change: every room on `CACHE_MODE` (kv unless it says do). */
export function defaultFlags(cacheMode: string | undefined): FlagsDocument {
  return {
    defaultMode: cacheMode === "do" ? "do" : "kv",
    doPercent: 0,
    rooms: {},
    version: 0,
    updatedAt: 0,
    updatedBy: "default",
  };
}
