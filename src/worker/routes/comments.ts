// Posting and reading messages, and the heal endpoint.
import type { IRequest } from "itty-router";
import { z } from "zod";
import type { CommentsResponse, HealResponse } from "../../shared/api";
import { CACHE_SIZE, DEFAULT_ROOM, newMessageId, type Message } from "../../shared/message";
import { healSchema, messageIdSchema, postCommentSchema, roomSchema } from "../../shared/schemas";
import { requireRole } from "../auth";
import { loadFlags, markRoom, pathFor, readRecord, roomPath, writeRecord } from "../context";
import { recordStat } from "../stats-batch";
import { StatusError, log, parseWith, readJson, roomJson } from "../http";
import { resolveMode } from "../../shared/flags";
import type { RoomPath } from "../paths/path";

const listQuerySchema = z.object({
  room: roomSchema.default(DEFAULT_ROOM),
  limit: z.coerce.number().int("limit must be a whole number").min(1, "limit must be at least 1").max(CACHE_SIZE, `limit must be at most ${CACHE_SIZE}`).default(50),
  since: z.coerce.number().int("since must be a whole number").min(0, "since must be 0 or more").optional(),
});

export async function listComments(request: IRequest, env: Env): Promise<Response> {
  const query = parseWith(listQuerySchema, request.query);
  const path = await roomPath(env, query.room);
  const { comments, lastSeq } = await path.list({ limit: query.limit, since: query.since });
  const body: CommentsResponse = { comments, mode: path.mode, ...(lastSeq !== undefined ? { lastSeq } : {}) };
  return roomJson(path.mode, body);
}

export async function getComment(request: IRequest, env: Env): Promise<Response> {
  const id = parseWith(messageIdSchema, request.params.id);
  const record = await readRecord(env, id);
  if (!record) throw new StatusError(404, "message not found");
  const flags = await loadFlags(env);
  return roomJson(resolveMode(flags, record.room), record);
}

/**
 * Stores a message: its KV record first (the heal source), then the room's list.
 * The same id again answers the stored message with 200 and writes nothing.
 */
export async function postComment(request: IRequest, env: Env, ctx: ExecutionContext): Promise<Response> {
  const input = await readJson(request, postCommentSchema);
  if (input.kind === "ai") await requireRole(request, env, "bot");
  if (input.kind === "human" && input.replyTo) throw new StatusError(400, "replyTo: only AI replies answer a message");
  if (input.kind === "ai" && !input.replyTo) throw new StatusError(400, "replyTo: an AI reply must name the message it answers");

  const human = input.replyTo ? await readRecord(env, input.replyTo) : null;
  if (input.replyTo && !human) throw new StatusError(404, "replyTo: message not found");
  if (human && human.kind !== "human") throw new StatusError(400, "replyTo: must be a human message");
  if (human && input.room && input.room !== human.room) throw new StatusError(400, "room: does not match the replied message's room");
  const room = human?.room ?? input.room ?? DEFAULT_ROOM;

  const flags = await loadFlags(env);
  const path = pathFor(env, flags, room);
  if (input.id) {
    const stored = await readRecord(env, input.id);
    if (stored) return roomJson(path.mode, stored, 200);
  }

  const message: Message = {
    id: input.id ?? newMessageId(),
    room,
    kind: input.kind,
    author: input.author ?? (input.kind === "ai" ? "bot" : "anonymous"),
    text: input.text,
    status: input.kind === "ai" ? "complete" : "pending",
    createdAt: Date.now(),
    ...(input.replyTo ? { replyTo: input.replyTo } : {}),
  };
  await writeRecord(env, message);
  await markRoom(env, room);
  const result = human ? await replyTo(env, path, message, human, input.botId) : await path.append(message);
  if (result.created) recordStat(env, ctx, { type: "post", mode: path.mode, kind: message.kind });
  log("post", { id: result.message.id, room, kind: message.kind, mode: path.mode, created: result.created });
  return roomJson(path.mode, result.message, result.created ? 201 : 200);
}

/** Adds the AI reply and brings the answered message's KV record up to date. */
async function replyTo(env: Env, path: RoomPath, ai: Message, human: Message, botId?: string) {
  const result = await path.reply(ai, human, botId ?? ai.author);
  if (result.created && result.human) await writeRecord(env, result.human);
  return result;
}

/** Heal: re-adds a stored message to its room's list. Idempotent; counted per mode. */
export async function healComment(request: IRequest, env: Env, ctx: ExecutionContext): Promise<Response> {
  const address = request.headers.get("cf-connecting-ip") ?? "local";
  const { success } = await env.HEAL_LIMITER.limit({ key: address });
  if (!success) throw new StatusError(429, { error: "too many heal requests; retry later", retryAfter: 60 });
  const { messageId } = await readJson(request, healSchema);
  const record = await readRecord(env, messageId);
  if (!record) throw new StatusError(404, "message not found");
  const path = await roomPath(env, record.room);
  const { message, readded } = await path.heal(record);
  recordStat(env, ctx, { type: "heal", mode: path.mode, readded, delayMs: Date.now() - record.createdAt });
  log("heal", { id: messageId, room: record.room, mode: path.mode, readded });
  const body: HealResponse = { ok: true, readded, message, mode: path.mode };
  return roomJson(path.mode, body);
}
