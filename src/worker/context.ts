// Per-request wiring: the flag in force, the path for a room, the Control DO.
import { defaultFlags, resolveMode, type FlagsDocument } from "../shared/flags";
import type { Message } from "../shared/message";
import { FLAGS_KEY, commentKey, roomKey } from "./keys";
import { DoPath } from "./paths/do-path";
import { KvPath } from "./paths/kv-path";
import type { RoomPath } from "./paths/path";

export function control(env: Env) {
  return env.CONTROL.getByName("global");
}

/** The flag as published in KV; read on every request so a flip applies to the next one. */
export async function loadFlags(env: Env): Promise<FlagsDocument> {
  return (await env.CHAT_KV.get<FlagsDocument>(FLAGS_KEY, "json")) ?? defaultFlags(env.CACHE_MODE);
}

export function pathFor(env: Env, flags: FlagsDocument, room: string): RoomPath {
  return resolveMode(flags, room) === "do" ? new DoPath(env.ROOM, room, flags.version) : new KvPath(env.CHAT_KV, room);
}

export async function roomPath(env: Env, room: string): Promise<RoomPath> {
  return pathFor(env, await loadFlags(env), room);
}

export async function readRecord(env: Env, id: string): Promise<Message | null> {
  return env.CHAT_KV.get<Message>(commentKey(id), "json");
}

export async function writeRecord(env: Env, message: Message): Promise<void> {
  const { seq: _seq, claimedBy: _by, leaseUntil: _until, ...record } = message;
  await env.CHAT_KV.put(commentKey(message.id), JSON.stringify(record));
}

// Rooms this isolate already marked; the marker is written once per room, never a shared list.
const knownRooms = new Set<string>();

export async function markRoom(env: Env, room: string): Promise<void> {
  if (knownRooms.has(room)) return;
  if ((await env.CHAT_KV.get(roomKey(room))) === null) {
    await env.CHAT_KV.put(roomKey(room), JSON.stringify({ createdAt: Date.now() }));
  }
  knownRooms.add(room);
}
