// Bot calls (BOT_TOKEN): the pending list, claims with a lease, release, fail.
import type { IRequest } from "itty-router";
import { z } from "zod";
import type { ClaimResponse, PendingResponse } from "../../shared/api";
import { DEFAULT_ROOM } from "../../shared/message";
import { claimSchema, failSchema, roomSchema } from "../../shared/schemas";
import { requireRole } from "../auth";
import { readRecord, roomPath, writeRecord } from "../context";
import { StatusError, log, parseWith, readJson, roomJson } from "../http";
import type { RoomPath } from "../paths/path";

const pendingQuerySchema = z.object({ room: roomSchema.default(DEFAULT_ROOM) });

export async function listPending(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "bot");
  const { room } = parseWith(pendingQuerySchema, request.query);
  const path = await roomPath(env, room);
  const body: PendingResponse = { pending: await path.pending(Date.now()), mode: path.mode };
  return roomJson(path.mode, body);
}

/** Finds the message's room from its KV record, so the bot need not send it. */
async function pathOfMessage(env: Env, messageId: string, room?: string): Promise<RoomPath> {
  const record = await readRecord(env, messageId);
  if (!record) throw new StatusError(404, "message not found");
  if (room && room !== record.room) throw new StatusError(400, "room: does not match the message's room");
  return roomPath(env, record.room);
}

export async function claimMessage(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "bot");
  const input = await readJson(request, claimSchema);
  const path = await pathOfMessage(env, input.messageId, input.room);
  const leaseMs = Number(env.CLAIM_LEASE_MS) || 600_000;
  const message = await path.claim(input.messageId, input.botId, leaseMs, Date.now());
  log("claim", { id: input.messageId, botId: input.botId, mode: path.mode });
  const body: ClaimResponse = { ok: true, message, leaseUntil: message.leaseUntil ?? 0, mode: path.mode };
  return roomJson(path.mode, body);
}

export async function releaseMessage(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "bot");
  const input = await readJson(request, claimSchema);
  const path = await pathOfMessage(env, input.messageId, input.room);
  const message = await path.release(input.messageId, input.botId);
  log("release", { id: input.messageId, botId: input.botId, mode: path.mode });
  return roomJson(path.mode, { ok: true, message });
}

export async function failMessage(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "bot");
  const input = await readJson(request, failSchema);
  const path = await pathOfMessage(env, input.messageId, input.room);
  const message = await path.fail(input.messageId, input.botId, input.reason, Date.now());
  await writeRecord(env, message);
  log("fail", { id: input.messageId, botId: input.botId, mode: path.mode, reason: input.reason });
  return roomJson(path.mode, { ok: true, message });
}
