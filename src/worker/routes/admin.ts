// Operator calls (ADMIN_TOKEN): the flag with its audit, and the per-mode stats.
import type { IRequest } from "itty-router";
import type { FlagsResponse } from "../../shared/api";
import { resolveMode, type Flags } from "../../shared/flags";
import { flagsSchema, roomSchema } from "../../shared/schemas";
import type { CacheMode } from "../../shared/message";
import { requireRole } from "../auth";
import { control, rememberFlags } from "../context";
import { json, log, parseWith, readJson } from "../http";
import { listRoomNames } from "./rooms";

export async function getFlags(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "admin");
  const body: FlagsResponse = await control(env).getFlags();
  return json(body);
}

/**
 * Replaces the flag. Rooms that leave do mode are flushed (outbox, then mirror) and
 * stop taking do calls *before* the new flag is published, so no kv writer starts
 * from a stale `cache:<room>` and no do write lands in a room nobody reads. If a room
 * cannot be flushed the flag is not changed (500) and the same PUT can be sent again.
 * Rooms entering do mode reconcile from `cache:<room>` on their next call.
 */
export async function putFlags(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "admin");
  const next = await readJson(request, flagsSchema);
  const who = (request.headers.get("x-operator") ?? "").slice(0, 80) || `admin@${request.headers.get("cf-connecting-ip") ?? "local"}`;
  const { flags: current } = await control(env).getFlags();
  const leaving = await roomsLeavingDo(env, current, next);
  const flagVersion = current.version + 1;
  await Promise.all(leaving.map((room) => env.ROOM.getByName(room).leaveDoMode({ room, flagVersion })));
  const { before, after } = await control(env).setFlags(next, who);
  rememberFlags(after);
  log("flags", { who, before, after, flushed: leaving });
  const body: FlagsResponse & { flushed: string[] } = { ...(await control(env).getFlags()), flushed: leaving };
  return json(body);
}

async function roomsLeavingDo(env: Env, before: Flags, after: Flags): Promise<string[]> {
  const names = new Set([...(await listRoomNames(env)), ...Object.keys(before.rooms), ...Object.keys(after.rooms)]);
  return [...names].filter((room) => resolveMode(before, room) === "do" && resolveMode(after, room) === "kv");
}

/** One room as its Durable Object sees it: log size, path, outbox and record lag. */
export async function inspectRoom(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "admin");
  const room = parseWith(roomSchema, request.params.room);
  return json(await env.ROOM.getByName(room).inspect());
}

export async function getStats(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "admin");
  const [{ flags }, rooms] = await Promise.all([control(env).getFlags(), listRoomNames(env)]);
  const perMode: Record<CacheMode, number> = { kv: 0, do: 0 };
  for (const room of rooms) perMode[resolveMode(flags, room)]++;
  return json(await control(env).stats(perMode));
}
