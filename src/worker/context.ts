// Per-request wiring: the flag in force, the path for a room, the Control DO.
import { defaultFlags, resolveMode, type FlagsDocument } from "../shared/flags";
import { FLAGS_KEY } from "../shared/keys";
import { DoPath, RoomLeftDoMode } from "./paths/do-path";
import { KvPath } from "./paths/kv-path";
import type { RoomPath } from "./paths/path";

export function control(env: Env) {
  return env.CONTROL.getByName("global");
}

/** The flag as published in KV; read once per request so a flip applies to the next one. */
export async function loadFlags(env: Env): Promise<FlagsDocument> {
  return (await env.CHAT_KV.get<FlagsDocument>(FLAGS_KEY, "json")) ?? defaultFlags(env.CACHE_MODE);
}

export function pathFor(env: Env, flags: FlagsDocument, room: string): RoomPath {
  return resolveMode(flags, room) === "do" ? new DoPath(env.ROOM, room, flags.version) : new KvPath(env.CHAT_KV, room);
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
    const kv = new KvPath(env.CHAT_KV, room);
    return { path: kv, value: await run(kv) };
  }
}
