// Bot calls (BOT_TOKEN): the pending list, claims with a lease, release, fail. Calls
// name their room, so in do mode the room itself finds the message (no KV lookup).
import type { IRequest } from "itty-router";
import { z } from "zod";
import type { ClaimResponse, PendingResponse, StreamResponse } from "../../shared/api";
import { DEFAULT_ROOM, MODEL_UNAVAILABLE } from "../../shared/message";
import { claimSchema, failSchema, roomSchema, streamCallSchema } from "../../shared/schemas";
import { requireRole } from "../auth";
import { loadFlags } from "../flag-cache";
import { onRoomPath } from "../room-path";
import { log, parseWith, readJson, roomJson } from "../http";
import type { RoomPath } from "../paths/path";
import { roomOfMessage } from "./comments";

/** `botId` names the asking bot in the room's presence (optional: older bots do not send it). */
const pendingQuerySchema = z.object({
  room: roomSchema.default(DEFAULT_ROOM),
  botId: z.string().min(1).max(100).optional(),
});

export async function listPending(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "bot");
  const { room, botId } = parseWith(pendingQuerySchema, request.query);
  const { path, value } = await onRoomPath(env, await loadFlags(env), room, (p) => p.pending(botId));
  const body: PendingResponse = { pending: value, mode: path.mode };
  return roomJson(path.mode, body);
}

/** Runs a bot call on the message's room: the one named, else (older bots) its KV record's. */
async function onMessageRoom<T>(
  env: Env,
  messageId: string,
  room: string | undefined,
  run: (path: RoomPath) => Promise<T>,
) {
  const flags = await loadFlags(env);
  return onRoomPath(env, flags, room ?? (await roomOfMessage(env, messageId)), run);
}

export async function claimMessage(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "bot");
  const input = await readJson(request, claimSchema);
  const leaseMs = Number(env.CLAIM_LEASE_MS) || 600_000;
  const { path, value: message } = await onMessageRoom(env, input.messageId, input.room, (p) =>
    p.claim(input.messageId, input.botId, leaseMs),
  );
  log("claim", { id: input.messageId, botId: input.botId, mode: path.mode });
  const body: ClaimResponse = { ok: true, message, leaseUntil: message.leaseUntil ?? 0, mode: path.mode };
  return roomJson(path.mode, body);
}

export async function releaseMessage(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "bot");
  const input = await readJson(request, claimSchema);
  const { path, value: message } = await onMessageRoom(env, input.messageId, input.room, (p) =>
    p.release(input.messageId, input.botId),
  );
  log("release", { id: input.messageId, botId: input.botId, mode: path.mode });
  return roomJson(path.mode, { ok: true, message });
}

export async function failMessage(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "bot");
  const input = await readJson(request, failSchema);
  const { path, value: message } = await onMessageRoom(env, input.messageId, input.room, (p) =>
    p.fail(input.messageId, input.botId, MODEL_UNAVAILABLE, input.reason),
  );
  log("fail", { id: input.messageId, botId: input.botId, mode: path.mode, reason: input.reason });
  return roomJson(path.mode, { ok: true, message });
}

/**
 * The text of a reply being written (do rooms): the bot sends what it has from the offset the
 * room last answered; the answer says how much the room holds and whether Stop was pressed.
 * kv rooms answer 409 with mode kv: they do not stream.
 */
export async function streamReply(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "bot");
  const { room, ...input } = await readJson(request, streamCallSchema);
  const { path, value } = await onRoomPath(env, await loadFlags(env), room, (p) => p.stream(input));
  const body: StreamResponse = { ...value, mode: path.mode };
  return roomJson(path.mode, body);
}
