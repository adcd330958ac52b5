// Posting and reading messages, and the heal endpoint.
import type { IRequest } from "itty-router";
import { z } from "zod";
import type { CommentsResponse, HealResponse } from "../../shared/api";
import { resolveMode } from "../../shared/flags";
import { CACHE_SIZE, DEFAULT_ROOM, DELETED_ERROR } from "../../shared/message";
import {
  editSchema,
  healSchema,
  messageIdSchema,
  postCommentSchema,
  reactSchema,
  regenerateSchema,
  roomSchema,
  stopSchema,
} from "../../shared/schemas";
import { recordStat } from "../../control/stats";
import { bearer, roleOf } from "../auth";
import { botCaller } from "../bot-identity";
import { UNKNOWN_CLIENT, isExempt, requestClientKey } from "../../limits/client-key";
import { limitPost, limitStop } from "../../limits/post-limit";
import { limitRead } from "../../limits/read-limit";
import { loadFlags } from "../flag-cache";
import { onRoomPath } from "../room-path";
import { StatusError, log, parseWith, readJson, roomJson } from "../http";
import { readRecord } from "../kv-records";
import { PAST_RETENTION_ERROR, keptSince, roomLimits } from "../../limits/retention";

const listQuerySchema = z
  .object({
    room: roomSchema.default(DEFAULT_ROOM),
    limit: z.coerce
      .number()
      .int("limit must be a whole number")
      .min(1, "limit must be at least 1")
      .max(CACHE_SIZE, `limit must be at most ${CACHE_SIZE}`)
      .default(50),
    since: z.coerce
      .number({ error: "since must be a whole number" })
      .int("since must be a whole number")
      .min(0, "since must be 0 or more")
      .optional(),
    /** scroll-back: a message's `seq`; the page holds the messages logged before it */
    before: z.coerce
      .number({ error: "before must be a whole number" })
      .int("before must be a whole number")
      .min(1, "before must be 1 or more")
      .optional(),
  })
  .refine((q) => q.since === undefined || q.before === undefined, {
    message: "since and before cannot be combined: since pages forward, before backward",
    path: ["before"],
  });

const getQuerySchema = z
  .object({
    room: roomSchema.optional(),
    /** "1": the message's KV record in that room (the heal source), not the room's path */
    record: z.literal("1", "record must be 1").optional(),
  })
  .refine((q) => !q.record || q.room, { message: "record needs room: ?room=<room>&record=1", path: ["record"] });

export async function listComments(request: IRequest, env: Env): Promise<Response> {
  const query = parseWith(listQuerySchema, request.query);
  await limitRead(request, env);
  const { path, value } = await onRoomPath(env, await loadFlags(env), query.room, (p) =>
    p.list({ limit: query.limit, since: query.since, before: query.before }),
  );
  const body: CommentsResponse = {
    comments: value.comments,
    mode: path.mode,
    ...(value.lastPos !== undefined ? { lastPos: value.lastPos, lastSeq: value.lastPos } : {}),
    ...(value.more !== undefined ? { more: value.more } : {}),
    ...(value.presence ? { presence: value.presence } : {}),
  };
  return roomJson(path.mode, body);
}

/**
 * One message. With `?room=`, from that room's path (in do mode the room's log, current at
 * once); with `&record=1` its KV record in that room; with no room, the first version's global
 * KV record, which only messages stored before records were scoped by room have.
 */
export async function getComment(request: IRequest, env: Env): Promise<Response> {
  const id = parseWith(messageIdSchema, request.params.id);
  const { room, record: fromRecord } = parseWith(getQuerySchema, request.query);
  await limitRead(request, env);
  const flags = await loadFlags(env);
  if (room && !fromRecord) {
    const { path, value } = await onRoomPath(env, flags, room, (p) => p.get(id));
    return roomJson(path.mode, value);
  }
  const record = await readRecord(env.CHAT_KV, room, id);
  if (!record) throw new StatusError(404, room ? "message not found in this room" : NAME_THE_ROOM);
  if (record.deleted) throw new StatusError(410, DELETED_ERROR);
  return roomJson(resolveMode(flags, record.room), record);
}

/**
 * Stores a human message or (bot token) an AI reply on the room's path: in do mode one
 * call to the room, which dedupes by id; in kv mode the first version's record-then-cache write.
 * The same id again answers the stored message with 200 and writes nothing.
 */
export async function postComment(request: IRequest, env: Env, ctx: ExecutionContext): Promise<Response> {
  const input = await readJson(request, postCommentSchema);
  // An AI reply is bound to the bot its token names (the legacy BOT_TOKEN's instances name themselves).
  const bot = input.kind === "ai" ? await botCaller(request, env, input.botId) : undefined;
  if (bot && !bot.legacy) Object.assign(input, { botId: bot.name, author: bot.name });
  if (input.kind === "human" && input.usage) throw new StatusError(400, "usage: only AI replies report tokens");
  if (input.kind === "human" && input.replyTo) throw new StatusError(400, "replyTo: only AI replies answer a message");
  if (input.kind === "human" && input.stopped !== undefined)
    throw new StatusError(400, "stopped: only AI replies are stopped");
  if (input.kind === "ai" && !input.replyTo)
    throw new StatusError(400, "replyTo: an AI reply must name the message it answers");
  // The operator is not limited; everyone else, bot tokens included, counts per client key (and a
  // new room, its first message, against ROOM_LIMITER: the room's path knows whether it is new).
  const creator = input.kind === "human" ? await limitPerson(request, env) : undefined;
  const flags = await loadFlags(env);
  const room =
    input.room ??
    (input.replyTo ? await roomOfMessage(env, input.replyTo, "replyTo: message not found") : DEFAULT_ROOM);
  bot?.mustServe(room);
  const { path, value: result } = await onRoomPath(env, flags, room, (p) =>
    input.replyTo
      ? p.reply({ ...input, replyTo: input.replyTo, roster: bot?.roster(room) })
      : p.post({ ...input, creator, capExempt: !creator || creator === UNKNOWN_CLIENT || isExempt(env, creator) }),
  );
  if (result.created) recordStat(env, (p) => ctx.waitUntil(p), { type: "post", mode: path.mode, kind: input.kind });
  if (result.created && bot) {
    const tokens: [number, number] | undefined = input.usage && [input.usage.promptTokens, input.usage.replyTokens];
    bot.record(env, (p) => ctx.waitUntil(p), "answered", tokens);
  }
  return roomJson(path.mode, result.message, result.created ? 201 : 200);
}

/** Said when a message is looked up by id alone and has no legacy global record. */
const NAME_THE_ROOM = "message not found (records are kept per room: name it with room)";

/** For callers that do not name the room (the first version's clients): the room from the message's legacy KV record. */
export async function roomOfMessage(env: Env, id: string, notFound = "message not found"): Promise<string> {
  const record = await readRecord(env.CHAT_KV, undefined, id);
  if (!record) throw new StatusError(404, `${notFound} (records are kept per room: name it with room)`);
  return record.room;
}

/** Heal: re-adds a stored message to its room's list. Idempotent; counted per mode. */
export async function healComment(request: IRequest, env: Env, ctx: ExecutionContext): Promise<Response> {
  // The body first: a request that is not JSON (e.g. cross-site) must not spend the address's budget.
  const { messageId, room } = await readJson(request, healSchema);
  const { success } = await env.HEAL_LIMITER.limit({ key: requestClientKey(request) });
  if (!success) throw new StatusError(429, { error: "too many heal requests; retry later", retryAfter: 60 });
  const record = await readRecord(env.CHAT_KV, room, messageId);
  if (!record) throw new StatusError(404, room ? "message not found in this room" : NAME_THE_ROOM);
  if (record.deleted) throw new StatusError(410, DELETED_ERROR);
  // Retention deleted it (KV keeps a record until it expires): final on either path.
  if (record.createdAt < keptSince(roomLimits(env), Date.now())) throw new StatusError(410, PAST_RETENTION_ERROR);
  const { path, value } = await onRoomPath(env, await loadFlags(env), record.room, (p) => p.heal(record));
  recordStat(env, (p) => ctx.waitUntil(p), {
    type: "heal",
    mode: path.mode,
    readded: value.readded,
    delayMs: Date.now() - record.createdAt,
  });
  log("heal", { id: messageId, room: record.room, mode: path.mode, readded: value.readded });
  const body: HealResponse = { ok: true, readded: value.readded, message: value.message, mode: path.mode };
  return roomJson(path.mode, body);
}

/**
 * People count each write (a post, an edit, a reaction) against the post limit: 429 past it;
 * else their client key, undefined for the operator. A bot token writing as a person counts
 * too: bots answer with AI replies, never human messages.
 */
async function limitPerson(request: IRequest, env: Env): Promise<string | undefined> {
  if ((await roleOf(request, env)) === "admin") return undefined;
  const key = requestClientKey(request);
  const limited = await limitPost(env, key);
  if (limited) throw new StatusError(429, limited);
  return key;
}

/** The author's new text for their message, as its next version (do rooms). */
export async function editComment(request: IRequest, env: Env): Promise<Response> {
  const id = parseWith(messageIdSchema, request.params.id);
  const { room, ...input } = await readJson(request, editSchema);
  await limitPerson(request, env);
  const { path, value } = await onRoomPath(env, await loadFlags(env), room, (p) => p.edit({ id, ...input }));
  return roomJson(path.mode, value);
}

/** Every earlier text of a message, with the message as it stands (do rooms). */
export async function commentVersions(request: IRequest, env: Env): Promise<Response> {
  const id = parseWith(messageIdSchema, request.params.id);
  const { room } = parseWith(z.object({ room: roomSchema }), request.query);
  await limitRead(request, env);
  const { path, value } = await onRoomPath(env, await loadFlags(env), room, (p) => p.versions(id));
  return roomJson(path.mode, value);
}

/** One reactor's emoji on or off (do rooms): the message with its counts. */
export async function reactToComment(request: IRequest, env: Env): Promise<Response> {
  const id = parseWith(messageIdSchema, request.params.id);
  const { room, ...input } = await readJson(request, reactSchema);
  await limitPerson(request, env);
  const { path, value } = await onRoomPath(env, await loadFlags(env), room, (p) => p.react({ id, ...input }));
  return roomJson(path.mode, value);
}

/**
 * Stop on the reply being written to a human message (do rooms): its asker (the question's
 * edit key), a bot or an operator; counted per client (STOP_LIMITER) unless a token holder.
 */
export async function stopReply(request: IRequest, env: Env): Promise<Response> {
  const id = parseWith(messageIdSchema, request.params.id);
  const { room, editKey } = await readJson(request, stopSchema);
  const privileged = await botOrOperator(request, env, room);
  if (!privileged) {
    const limited = await limitStop(env, requestClientKey(request));
    if (limited) throw new StatusError(429, limited);
  }
  const { path, value } = await onRoomPath(env, await loadFlags(env), room, (p) =>
    p.stop(id, { privileged, ...(editKey ? { editKey } : {}) }),
  );
  return roomJson(path.mode, { ok: true, ...value });
}

/**
 * Whether a bearer token proves an operator or a bot serving `room` (a registered bot by its
 * own token); no token: false; a wrong one: 401, another room's bot: 403.
 */
async function botOrOperator(request: IRequest, env: Env, room: string): Promise<boolean> {
  if (!bearer(request)) return false;
  if ((await roleOf(request, env)) !== null) return true;
  (await botCaller(request, env)).mustServe(room);
  return true;
}

/**
 * Ask again (do rooms): the asker (the question's edit key) or an operator puts a human message
 * whose answer is done, failed or stopped back in the bot's queue; the next reply is a new
 * version of the answer. The same requestId again changes nothing.
 */
export async function regenerateAnswer(request: IRequest, env: Env): Promise<Response> {
  const id = parseWith(messageIdSchema, request.params.id);
  const { room, requestId, editKey } = await readJson(request, regenerateSchema);
  const privileged = (await roleOf(request, env)) === "admin";
  if (!privileged) await limitPerson(request, env);
  const { path, value } = await onRoomPath(env, await loadFlags(env), room, (p) =>
    p.regenerate({ id, requestId, privileged, ...(editKey ? { editKey } : {}) }),
  );
  return roomJson(path.mode, value);
}
