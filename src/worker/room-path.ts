// Which path serves a room for this request, and the rerun on kv when a room has
// already left do mode (a stale flag).
import { resolveMode, type FlagsDocument } from "../shared/flags";
import { unclaimedGraceMs } from "../shared/leases";
import { DoPath, RoomLeftDoMode } from "./paths/do-path";
import { KvPath } from "./paths/kv-path";
import type { RoomPath } from "./paths/path";

export function pathFor(env: Env, flags: FlagsDocument, room: string): RoomPath {
  return resolveMode(flags, room) === "do"
    ? new DoPath(env.ROOM, room, flags.version)
    : new KvPath(env.CHAT_KV, room, unclaimedGraceMs(env.UNCLAIMED_GRACE_MS), env);
}

/**
 * Runs one call on the room's path. A room that has already left do mode (our flag is
 * stale) refuses, and the call runs once more on the kv path, where it now belongs.
 */
export async function onRoomPath<T>(
  env: Env,
  flags: FlagsDocument,
  room: string,
  run: (path: RoomPath) => Promise<T>,
): Promise<{ path: RoomPath; value: T }> {
  const path = pathFor(env, flags, room);
  try {
    return { path, value: await run(path) };
  } catch (err) {
    if (!(err instanceof RoomLeftDoMode)) throw err;
    const kv = new KvPath(env.CHAT_KV, room, unclaimedGraceMs(env.UNCLAIMED_GRACE_MS), env);
    return { path: kv, value: await run(kv) };
  }
}
