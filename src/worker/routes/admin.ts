// Operator calls (ADMIN_TOKEN): the flag with its audit, the per-mode stats, and
// deleting a message (audited with the flag).
import type { IRequest } from "itty-router";
import { z } from "zod";
import type { DeleteResponse, FlagsResponse, StatsResponse } from "../../shared/api";
import { flagsSchema, messageIdSchema, roomSchema } from "../../shared/schemas";
import { requireRole } from "../auth";
import { loadFlags, rememberFlags } from "../flag-cache";
import { json, log, parseWith, readJson, roomJson } from "../http";
import { onRoomPath } from "../room-path";

/** The Control object: the flag, its audit, the counters, the rooms in do mode. */
const control = (env: Env) => env.CONTROL.getByName("global");

export async function getFlags(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "admin");
  const body: FlagsResponse = await control(env).getFlags();
  return json(body);
}

/** Rooms one PUT flushes at most, and how many at once: a flip of thousands of rooms takes several PUTs. */
export const FLIP_ROOMS_PER_REQUEST = 500;
const FLIP_CONCURRENCY = 50;

/**
 * Replaces the flag. Rooms that leave do mode (the Control object lists the rooms in do
 * mode) are flushed (outbox, then mirror) and stop taking do calls *before* the new flag
 * is published, so no kv writer starts from a stale `cache:<room>` and no do write lands
 * in a room nobody reads. Resumable: with more leaving rooms than one request flushes the
 * answer is 202 and the same PUT continues; if a room cannot be flushed the answer is 500
 * with the rooms done and failed, the flag stays as it was, and the same PUT finishes it.
 * Rooms entering do mode reconcile from `cache:<room>` on their next call.
 */
export async function putFlags(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "admin");
  const next = await readJson(request, flagsSchema);
  const who = operatorOf(request);
  // Reserve first: from here on no room this flip moves to kv can enter do mode unseen.
  const flagVersion = await control(env).reserveVersion(next);
  const { rooms: leaving, more } = await control(env).roomsLeaving(next, FLIP_ROOMS_PER_REQUEST);
  const { flushed, failed } = await flushLeavingRooms(env, leaving, flagVersion);
  if (failed.length) {
    log("flags-partial", { who, flushed: flushed.length, failed });
    return json({ error: `${failed.length} room(s) could not be flushed; the flag is unchanged; send the same PUT again`, flushed, failed }, 500);
  }
  if (more) {
    log("flags-continue", { who, flushed: flushed.length });
    const body: FlagsResponse & { flushed: string[]; remaining: true } = { ...(await control(env).getFlags()), flushed, remaining: true };
    return json(body, 202);
  }
  const { before, after } = await control(env).setFlags(next, who);
  rememberFlags(after);
  log("flags", { who, before, after, flushed: flushed.length });
  const body: FlagsResponse & { flushed: string[] } = { ...(await control(env).getFlags()), flushed };
  return json(body);
}

/** Who the audit names: the operator page's `x-operator`, else the address. */
function operatorOf(request: Request): string {
  return (request.headers.get("x-operator") ?? "").slice(0, 80) || `admin@${request.headers.get("cf-connecting-ip") ?? "local"}`;
}

/** The room is required: the room, not an eventually consistent KV record, is the authority for its log. */
const deleteQuerySchema = z.object({
  room: z
    .string({ error: (issue) => (issue.input === undefined ? "room is required: ?room=<room>" : "room must be given once") })
    .pipe(roomSchema),
});

/**
 * Deletes a message: a tombstone in the room's log (gone from lists, the mirror and
 * `cache:<room>`, pushed as an `update`), its KV record marked deleted so no heal,
 * repost or claim brings it back (410). Idempotent: a deleted message answers 200 again.
 */
export async function deleteMessage(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "admin");
  const id = parseWith(messageIdSchema, request.params.id);
  const { room } = parseWith(deleteQuerySchema, request.query);
  const { path, value } = await onRoomPath(env, await loadFlags(env), room, (p) => p.delete(id));
  const { message, deleted } = value;
  // Recorded on every answer (the Control object keeps the first): a retry after a failure here still audits it.
  await control(env).recordDeletion({ room, id, kind: message.kind, at: message.deletedAt ?? Date.now(), who: operatorOf(request) });
  log("delete", { id, room, kind: message.kind, mode: path.mode, deleted });
  const body: DeleteResponse = { ok: true, deleted, message, mode: path.mode };
  return roomJson(path.mode, body);
}

/** Flushes rooms leaving do mode, FLIP_CONCURRENCY at a time; the Control object forgets each one done. */
async function flushLeavingRooms(env: Env, rooms: string[], flagVersion: number) {
  const flushed: string[] = [];
  const failed: { room: string; error: string }[] = [];
  for (let i = 0; i < rooms.length; i += FLIP_CONCURRENCY) {
    const batch = rooms.slice(i, i + FLIP_CONCURRENCY);
    const results = await Promise.allSettled(batch.map((room) => env.ROOM.getByName(room).leaveDoMode({ room, flagVersion })));
    const done = batch.filter((_, j) => results[j]!.status === "fulfilled");
    results.forEach((result, j) => {
      if (result.status === "rejected") failed.push({ room: batch[j]!, error: String(result.reason) });
    });
    if (done.length) await control(env).roomsLeft(done);
    flushed.push(...done);
  }
  return { flushed, failed };
}

/** One room as its Durable Object sees it: log size, path, outbox and record lag. */
export async function inspectRoom(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "admin");
  const room = parseWith(roomSchema, request.params.room);
  return json(await env.ROOM.getByName(room).inspect());
}

/** Per-mode counters; rooms are counted from the Control object's do list, never by listing markers. */
export async function getStats(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "admin");
  const [stats, usage] = await Promise.all([control(env).stats(), control(env).usage()]);
  return json({ ...stats, usage } satisfies StatsResponse);
}
