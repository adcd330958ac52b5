// Operator calls (ADMIN_TOKEN): the flag with its audit, the per-mode stats, deleting a
// message and purging a room (both audited with the flag).
import type { IRequest } from "itty-router";
import { z } from "zod";
import type {
  DeleteResponse,
  FlagsResponse,
  FlipProgress,
  LimitsResponse,
  PurgeResponse,
  StatsResponse,
} from "../../shared/api";
import { FLIP_ROOMS_PER_PUT, registryShardOf, type Flags } from "../../shared/flags";
import { allShards, registryFor } from "../../control/registry";
import { LOCAL_STATS_NAME, readStats, StatsUnavailable } from "../../control/stats";
import { noKvCounts } from "../../shared/usage";
import { sumUsage } from "../../storage/usage";
import { flagsSchema, limitsSchema, messageIdSchema, purgeSchema, roomSchema } from "../../shared/schemas";
import { requireRole } from "../auth";
import { loadFlags, rememberFlags } from "../flag-cache";
import { json, log, parseWith, readJson, roomJson } from "../http";
import { onRoomPath } from "../room-path";

/** The Control object: the flag with its audit, the deletion and purge audits. */
const control = (env: Env) => env.CONTROL.getByName("global");

export async function getFlags(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "admin");
  const body: FlagsResponse = await control(env).getFlags();
  return json(body);
}

/** Rooms leaving do mode flushed at once. */
const FLIP_CONCURRENCY = 50;

/**
 * Replaces the flag. Rooms that leave do mode (the registry shards list the rooms in do
 * mode) are flushed (outbox, then mirror) and stop taking do calls *before* the new flag
 * is published, so no kv writer starts from a stale `cache:<room>` and no do write lands
 * in a room nobody reads. Resumable: with more leaving rooms than one request flushes the
 * answer is 202 with the progress, and the same PUT continues; if a room cannot be flushed
 * the answer is 500 with the rooms done and failed, the flag stays as it was, and the same
 * PUT finishes it. A PUT costs one call to each shard, whatever the number of rooms. Rooms
 * entering do mode reconcile from `cache:<room>` on their next call.
 */
export async function putFlags(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "admin");
  const next = await readJson(request, flagsSchema);
  const who = operatorOf(request);
  // Reserve first, then tell every shard: from here on no room this flip moves to kv can enter do mode unseen.
  const flagVersion = await control(env).reserveVersion(next);
  const { rooms: leaving, legacy, total } = await listLeavingRooms(env, next, flagVersion);
  const { flushed, failed } = await flushLeavingRooms(env, leaving, flagVersion);
  if (flushed.length) await forgetRooms(env, flushed, legacy);
  const progress: FlipProgress = { flushed, total, remaining: total - flushed.length };
  if (failed.length) {
    log("flags-partial", { who, flushed: flushed.length, failed });
    return json(
      {
        error: `${failed.length} room(s) could not be flushed; the flag is unchanged; send the same PUT again`,
        ...progress,
        failed,
      },
      500,
    );
  }
  if (progress.remaining > 0) {
    log("flags-continue", { who, flushed: flushed.length, remaining: progress.remaining });
    const body: FlagsResponse & FlipProgress = { ...(await control(env).getFlags()), ...progress };
    return json(body, 202);
  }
  const { before, after } = await control(env).setFlags(next, who);
  rememberFlags(after);
  log("flags", { who, before, after, flushed: flushed.length });
  const body: FlagsResponse & FlipProgress = { ...(await control(env).getFlags()), ...progress };
  return json(body);
}

/** Up to FLIP_ROOMS_PER_PUT rooms in do mode that `next` moves to kv, from every shard (and the legacy list), and how many in all. */
async function listLeavingRooms(
  env: Env,
  next: Flags,
  flagVersion: number,
): Promise<{ rooms: string[]; legacy: Set<string>; total: number }> {
  const [legacy, ...shards] = await Promise.all([
    control(env).roomsLeaving(next, FLIP_ROOMS_PER_PUT),
    ...allShards(env).map((shard) => shard.beginFlip(next, flagVersion, FLIP_ROOMS_PER_PUT)),
  ]);
  const rooms = [...legacy!.rooms, ...shards.flatMap((s) => s.rooms)].slice(0, FLIP_ROOMS_PER_PUT);
  const total = shards.reduce((n, s) => n + s.total, 0) + legacy!.rooms.length + (legacy!.more ? 1 : 0);
  return { rooms, legacy: new Set(legacy!.rooms), total };
}

/** Who the audit names: the operator page's `x-operator`, else the address. */
function operatorOf(request: Request): string {
  return (
    (request.headers.get("x-operator") ?? "").slice(0, 80) ||
    `admin@${request.headers.get("cf-connecting-ip") ?? "local"}`
  );
}

/** The room is required: the room, not an eventually consistent KV record, is the authority for its log. */
const deleteQuerySchema = z.object({
  room: z
    .string({
      error: (issue) => (issue.input === undefined ? "room is required: ?room=<room>" : "room must be given once"),
    })
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
  await control(env).recordDeletion({
    room,
    id,
    kind: message.kind,
    at: message.deletedAt ?? Date.now(),
    who: operatorOf(request),
  });
  log("delete", { id, room, kind: message.kind, mode: path.mode, deleted });
  const body: DeleteResponse = { ok: true, deleted, message, mode: path.mode };
  return roomJson(path.mode, body);
}

/**
 * Purges a do room's log: tombstones (`tombstones: true`) and/or messages created before
 * `before`, with their claims and streams, never the room's latest change; the mirror is
 * rewritten. Audited in the Control object. kv rooms answer 409 (their list is the KV value).
 */
export async function purgeRoom(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "admin");
  const room = parseWith(roomSchema, request.params.room);
  const which = await readJson(request, purgeSchema);
  // KV records stay to expire as retention's do: a tombstone's says deleted (no heal brings it back), and
  // deleting one record per purged message could take more KV calls than one request may make.
  const { path, value } = await onRoomPath(env, await loadFlags(env), room, (p) => p.purge(which));
  const who = operatorOf(request);
  await control(env).recordPurge({
    room,
    at: Date.now(),
    who,
    before: which.before ?? null,
    tombstones: which.tombstones ?? false,
    removed: value.removed,
  });
  log("purge", { room, who, ...which, removed: value.removed, count: value.count });
  const body: PurgeResponse = value;
  return roomJson(path.mode, body);
}

/**
 * Sets one room's cap (how many live messages it holds before human posts get 507), kept by
 * the room with its log; audited in the Control object. A full room an operator wants to keep
 * open gets a higher cap here, or a purge.
 */
export async function setRoomLimits(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "admin");
  const room = parseWith(roomSchema, request.params.room);
  const { maxMessages } = await readJson(request, limitsSchema);
  const { before, count } = await env.ROOM.getByName(room).setMaxMessages(maxMessages);
  const who = operatorOf(request);
  await control(env).recordLimit({ room, at: Date.now(), who, before, after: maxMessages });
  log("limits", { room, who, before, after: maxMessages, count });
  const body: LimitsResponse = { room, before, maxMessages, count };
  return json(body);
}

/** Flushes rooms leaving do mode, FLIP_CONCURRENCY at a time. */
async function flushLeavingRooms(env: Env, rooms: string[], flagVersion: number) {
  const flushed: string[] = [];
  const failed: { room: string; error: string }[] = [];
  for (let i = 0; i < rooms.length; i += FLIP_CONCURRENCY) {
    const batch = rooms.slice(i, i + FLIP_CONCURRENCY);
    const results = await Promise.allSettled(
      batch.map((room) => env.ROOM.getByName(room).leaveDoMode({ room, flagVersion })),
    );
    const done = batch.filter((_, j) => results[j]!.status === "fulfilled");
    results.forEach((result, j) => {
      if (result.status === "rejected") failed.push({ room: batch[j]!, error: String(result.reason) });
    });
    flushed.push(...done);
  }
  return { flushed, failed };
}

/** Flushed rooms leave the lists: one call per shard that had some, and one to Control for rooms its legacy list had. */
async function forgetRooms(env: Env, rooms: string[], legacy: Set<string>): Promise<void> {
  const byShard = new Map<number, string[]>();
  for (const room of rooms) byShard.set(registryShardOf(room), [...(byShard.get(registryShardOf(room)) ?? []), room]);
  const fromLegacy = rooms.filter((room) => legacy.has(room));
  await Promise.all([
    ...(fromLegacy.length ? [control(env).roomsLeft(fromLegacy)] : []),
    ...[...byShard.values()].map((names) => registryFor(env, names[0]!).roomsLeft(names)),
  ]);
}

/** One room as its Durable Object sees it: log size, path, outbox and record lag. */
export async function inspectRoom(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "admin");
  const room = parseWith(roomSchema, request.params.room);
  return json(await env.ROOM.getByName(room).inspect());
}

/**
 * Per-mode figures from the stats store, rooms in do mode from the registry shards, and
 * what the shared objects have done since they woke (the bench reads it). One call to each
 * shard: the operator page's cost, never a message's.
 */
export async function getStats(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "admin");
  const [read, controlUsage, legacyRooms, shards, localStats] = await Promise.all([
    readStats(env).catch((err: unknown) => {
      if (err instanceof StatsUnavailable) return err;
      throw err;
    }),
    control(env).usage(),
    control(env).legacyRooms(),
    Promise.all(allShards(env).map((shard) => shard.report())),
    env.STATS_STORE === "local" ? env.LOCAL_STATS.getByName(LOCAL_STATS_NAME).calls() : null,
  ]);
  const doRooms = legacyRooms + shards.reduce((n, s) => n + s.rooms, 0);
  const stats = read instanceof StatsUnavailable ? null : read;
  const body: StatsResponse = {
    modes: {
      kv: { ...(stats?.modes.kv ?? NO_STATS), rooms: null },
      do: { ...(stats?.modes.do ?? NO_STATS), rooms: doRooms },
    },
    timeline: stats?.timeline ?? [],
    ...(read instanceof StatsUnavailable ? { unavailable: read.message } : {}),
    usage: {
      control: controlUsage,
      registry: {
        ...sumUsage(shards.map((s) => s.usage)),
        busiestRequests: Math.max(...shards.map((s) => s.usage.requests)),
        shardRequests: shards.map((s) => s.usage.requests),
        shardSince: shards.map((s) => s.usage.since),
      },
      worker: stats?.worker ?? { kv: noKvCounts(), do: noKvCounts(), none: noKvCounts() },
      localStats,
    },
  };
  return json(body);
}

const NO_STATS = {
  posts: 0,
  humanPosts: 0,
  aiPosts: 0,
  healsRequested: 0,
  healsReadded: 0,
  healDelayMeanMs: 0,
  healDelayMaxMs: 0,
};
