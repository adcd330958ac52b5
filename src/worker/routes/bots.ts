// Operator calls for bots (ADMIN_TOKEN): create one (its token answered once), list them with
// their work from the stats store, rotate a token, revoke, and set a room's default bot. The
// book lives in the Control object; rooms it names are told by it (one call per room, here only).
import type { IRequest } from "itty-router";
import {
  noBotCounters,
  type BotInfo,
  type BotListEntry,
  type BotTokenResponse,
  type BotsResponse,
} from "../../shared/bots";
import { botNameSchema, createBotSchema, roomDefaultBotSchema, roomSchema } from "../../shared/schemas";
import { readBotCounters, StatsUnavailable } from "../../control/stats";
import { requireRole, sha256Hex } from "../auth";
import { LEGACY_BOT, forgetBotBook } from "../bot-identity";
import { json, log, parseWith, readJson, StatusError } from "../http";

const control = (env: Env) => env.CONTROL.getByName("global");

/** 256 random bits, base64url: shown once; only its SHA-256 is kept. */
function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

export async function createBot(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "admin");
  const input = await readJson(request, createBotSchema);
  if (input.name === LEGACY_BOT) throw new StatusError(400, `name: ${LEGACY_BOT} is the legacy BOT_TOKEN's name`);
  const token = newToken();
  const bot: BotInfo = { ...input, createdAt: Date.now(), rotatedAt: null };
  const pushed = await control(env).createBot(bot, await sha256Hex(token));
  if (!pushed) throw new StatusError(409, `name: a bot named ${input.name} exists (rotate its token or revoke it)`);
  forgetBotBook();
  log("bot-created", { name: bot.name, model: bot.model, rooms: bot.rooms, ...pushed });
  const body: BotTokenResponse & typeof pushed = { bot, token, ...pushed };
  return json(body, 201);
}

export async function listBots(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "admin");
  const [{ bots, defaults }, counters] = await Promise.all([
    control(env).botDirectory(),
    readBotCounters(env).catch((err: unknown) => {
      if (err instanceof StatsUnavailable) return err;
      throw err;
    }),
  ]);
  const none = noBotCounters();
  const list: BotListEntry[] = bots.map(({ tokenHash: _, ...bot }) => ({
    ...bot,
    ...((counters instanceof Map && counters.get(bot.name)) || none),
  }));
  const body: BotsResponse & { statsError?: string } = {
    bots: list,
    defaults,
    ...(counters instanceof StatsUnavailable ? { statsError: counters.message } : {}),
  };
  return json(body);
}

export async function rotateBot(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "admin");
  const name = parseWith(botNameSchema, request.params.name);
  const token = newToken();
  if (!(await control(env).rotateBot(name, await sha256Hex(token)))) throw new StatusError(404, `no bot named ${name}`);
  forgetBotBook();
  const bot = (await control(env).botDirectory()).bots.find((entry) => entry.name === name);
  if (!bot) throw new StatusError(404, `no bot named ${name}`);
  const { tokenHash: _, ...info } = bot;
  log("bot-rotated", { name });
  const body: BotTokenResponse = { bot: info, token };
  return json(body);
}

export async function revokeBot(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "admin");
  const name = parseWith(botNameSchema, request.params.name);
  const pushed = await control(env).revokeBot(name);
  if (!pushed) throw new StatusError(404, `no bot named ${name}`);
  forgetBotBook();
  log("bot-revoked", { name, ...pushed });
  return json({ ok: true, ...pushed });
}

/** A room's default bot: unmentioned messages there go to it (null: any bot serving the room). */
export async function setRoomBots(request: IRequest, env: Env): Promise<Response> {
  await requireRole(request, env, "admin");
  const room = parseWith(roomSchema, request.params.room);
  const { defaultBot } = await readJson(request, roomDefaultBotSchema);
  const result = await control(env).setRoomDefault(room, defaultBot);
  if ("error" in result) throw new StatusError(400, `defaultBot: ${result.error}`);
  forgetBotBook();
  log("room-default-bot", { room, defaultBot, ...result });
  return json({ ok: true, room, defaultBot, ...result }, result.failed.length ? 502 : 200);
}
