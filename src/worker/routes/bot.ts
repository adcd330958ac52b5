// Bot calls (a bot's token, or the legacy BOT_TOKEN): the pending list, claims with a lease,
// release, fail, streams. The token names the bot (bot-identity.ts); calls name their room, so
// in do mode the room itself finds the message (no KV lookup).
import type { IRequest } from "itty-router";
import { z } from "zod";
import type { ClaimResponse, PendingResponse, StreamResponse } from "../../shared/api";
import { DEFAULT_ROOM, MODEL_UNAVAILABLE } from "../../shared/message";
import { botIdSchema, claimSchema, failSchema, roomSchema, streamCallSchema } from "../../shared/schemas";
import type { BotMe } from "../../shared/bots";
import { botCaller, type BotCaller } from "../bot-identity";
import { loadFlags } from "../flag-cache";
import { onRoomPath } from "../room-path";
import { json, log, parseWith, readJson, roomJson } from "../http";
import type { RoomPath } from "../paths/path";
import { roomOfMessage } from "./comments";

/** `botId` names the asking bot in the room's presence (optional: older bots do not send it). */
const pendingQuerySchema = z.object({
  room: roomSchema.default(DEFAULT_ROOM),
  botId: botIdSchema,
});

/** Who the token says the bot is: its name, model and rooms (the bot process asks once at start). */
export async function botMe(request: IRequest, env: Env): Promise<Response> {
  const { botId } = parseWith(pendingQuerySchema.pick({ botId: true }), request.query);
  const bot = await botCaller(request, env, botId);
  const body: BotMe = bot.me();
  return json(body);
}

export async function listPending(request: IRequest, env: Env, ctx: ExecutionContext): Promise<Response> {
  const query = parseWith(pendingQuerySchema, request.query);
  const bot = await botCaller(request, env, query.botId);
  const { room } = query;
  bot.mustServe(room);
  bot.record(env, (p) => ctx.waitUntil(p), "seen");
  const { path, value } = await onRoomPath(env, await loadFlags(env), room, (p) =>
    p.pending(bot.name, bot.roster(room)),
  );
  const body: PendingResponse = { pending: value, mode: path.mode };
  return roomJson(path.mode, body);
}

/** Runs a bot call on the message's room (one the bot serves): the one named, else (older bots) its KV record's. */
async function onMessageRoom<T>(
  env: Env,
  messageId: string,
  named: string | undefined,
  bot: BotCaller,
  run: (path: RoomPath, room: string) => Promise<T>,
) {
  const flags = await loadFlags(env);
  const room = named ?? (await roomOfMessage(env, messageId));
  bot.mustServe(room);
  return onRoomPath(env, flags, room, (path) => run(path, room));
}

export async function claimMessage(request: IRequest, env: Env): Promise<Response> {
  const input = await readJson(request, claimSchema);
  const bot = await botCaller(request, env, input.botId, true);
  const leaseMs = Number(env.CLAIM_LEASE_MS) || 600_000;
  const { path, value: message } = await onMessageRoom(env, input.messageId, input.room, bot, (p, room) =>
    p.claim(input.messageId, bot.name, leaseMs, bot.roster(room)),
  );
  log("claim", { id: input.messageId, botId: bot.name, mode: path.mode });
  const body: ClaimResponse = { ok: true, message, leaseUntil: message.leaseUntil ?? 0, mode: path.mode };
  return roomJson(path.mode, body);
}

export async function releaseMessage(request: IRequest, env: Env): Promise<Response> {
  const input = await readJson(request, claimSchema);
  const bot = await botCaller(request, env, input.botId, true);
  const { path, value: message } = await onMessageRoom(env, input.messageId, input.room, bot, (p) =>
    p.release(input.messageId, bot.name),
  );
  log("release", { id: input.messageId, botId: bot.name, mode: path.mode });
  return roomJson(path.mode, { ok: true, message });
}

export async function failMessage(request: IRequest, env: Env, ctx: ExecutionContext): Promise<Response> {
  const input = await readJson(request, failSchema);
  const bot = await botCaller(request, env, input.botId, true);
  const { path, value: message } = await onMessageRoom(env, input.messageId, input.room, bot, (p, room) =>
    p.fail(input.messageId, bot.name, MODEL_UNAVAILABLE, input.reason, bot.roster(room)),
  );
  bot.record(env, (p) => ctx.waitUntil(p), "failed");
  log("fail", { id: input.messageId, botId: bot.name, mode: path.mode, reason: input.reason });
  return roomJson(path.mode, { ok: true, message });
}

/**
 * The text of a reply being written (do rooms): the bot sends what it has from the offset the
 * room last answered; the answer says how much the room holds and whether Stop was pressed.
 * kv rooms answer 409 with mode kv: they do not stream.
 */
export async function streamReply(request: IRequest, env: Env): Promise<Response> {
  const { room, botId, ...input } = await readJson(request, streamCallSchema);
  const bot = await botCaller(request, env, botId, true);
  bot.mustServe(room);
  const { path, value } = await onRoomPath(env, await loadFlags(env), room, (p) =>
    // A registered bot speaks under its own name while streaming too, as its posted reply does.
    p.stream({ ...input, botId: bot.name, ...(bot.legacy ? {} : { author: bot.name }) }),
  );
  const body: StreamResponse = { ...value, mode: path.mode };
  return roomJson(path.mode, body);
}
