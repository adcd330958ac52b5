// Per-request wiring: the flag in force, the path for a room, the Control DO.
import { defaultFlags, resolveMode, type FlagsDocument } from "../shared/flags";
import { FLAGS_KEY } from "../shared/keys";
import { unclaimedGraceMs } from "../shared/leases";
import { DoPath, RoomLeftDoMode } from "./paths/do-path";
import { KvPath } from "./paths/kv-path";
import type { RoomPath } from "./paths/path";

export function control(env: Env) {
  return env.CONTROL.getByName("global");
}

/**
 * How long an isolate trusts the flag it last read. A flip reaches every isolate within
 * this (in production, plus KV's own propagation of up to ~60 s); a call made on a stale
 * flag is caught by the room (409, rerun on the kv path). The isolate that made the flip
 * sees it at once (rememberFlags).
 */
export const FLAG_CACHE_MS = 1000;
let known: { flags: FlagsDocument; until: number } | null = null;

/** The flag as published in KV, read at most once per request and once per FLAG_CACHE_MS. */
export async function loadFlags(env: Env): Promise<FlagsDocument> {
  const now = Date.now();
  if (known && known.until > now) return known.flags;
  const flags = (await env.CHAT_KV.get<FlagsDocument>(FLAGS_KEY, "json")) ?? defaultFlags(env.CACHE_MODE);
  // A newer version seen here wins over an older one read meanwhile by another request.
  if (!known || flags.version >= known.flags.version) known = { flags, until: now + FLAG_CACHE_MS };
  return known.flags;
}

/** The flag this isolate just published: used from the next request on, without a KV read. */
export function rememberFlags(flags: FlagsDocument): void {
  known = { flags, until: Date.now() + FLAG_CACHE_MS };
}

export function pathFor(env: Env, flags: FlagsDocument, room: string): RoomPath {
  return resolveMode(flags, room) === "do" ? new DoPath(env.ROOM, room, flags.version) : new KvPath(env.CHAT_KV, room, unclaimedGraceMs(env.UNCLAIMED_GRACE_MS));
}

/**
 * Runs one call on the room's path. A room that has already left do mode (our flag is
 * stale) refuses, and the call runs once more on the kv path, where it now belongs.
 */
export async function onRoomPath<T>(env: Env, flags: FlagsDocument, room: string, run: (path: RoomPath) => Promise<T>): Promise<{ path: RoomPath; value: T }> {
  const path = pathFor(env, flags, room);
  try {
    return { path, value: await run(path) };
  } catch (err) {
    if (!(err instanceof RoomLeftDoMode)) throw err;
    const kv = new KvPath(env.CHAT_KV, room, unclaimedGraceMs(env.UNCLAIMED_GRACE_MS));
    return { path: kv, value: await run(kv) };
  }
}
