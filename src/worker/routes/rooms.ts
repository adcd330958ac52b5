// The room list (from KV `room:<name>` markers, a page at a time) and the live WebSocket.
import type { IRequest } from "itty-router";
import { z } from "zod";
import { MODE_HEADER, type BotRoomsResponse, type RoomsResponse } from "../../shared/api";
import type { RoomMarker } from "../../shared/room-marker";
import { botCaller } from "../bot-identity";
import { servesRoom } from "../../shared/bots";
import { resolveMode } from "../../shared/flags";
import { roomSchema } from "../../shared/schemas";
import { loadFlags } from "../flag-cache";
import { StatusError, json, parseWith } from "../http";
import { ROOM_PREFIX } from "../../shared/keys";
import { CLIENT_KEY_HEADER, FLAG_VERSION_HEADER, ROOM_MODE_HEADER } from "../../room/sockets";
import { requestClientKey } from "../../limits/client-key";
import { requireAllowedOrigin } from "../origin";
import { limitRead } from "../../limits/read-limit";

/** Rooms per page of GET /api/rooms: markers are unbounded, so no call lists them all. */
export const ROOMS_PAGE_DEFAULT = 100;
export const ROOMS_PAGE_MAX = 1000;

const roomsQuerySchema = z.object({
  limit: z.coerce
    .number()
    .int("limit must be a whole number")
    .min(1, "limit must be at least 1")
    .max(ROOMS_PAGE_MAX, `limit must be at most ${ROOMS_PAGE_MAX}`)
    .default(ROOMS_PAGE_DEFAULT),
  cursor: z.string().min(1, "cursor must not be empty").max(1024, "cursor must be at most 1024 characters").optional(),
});

/** One page of room markers in name order, and the cursor of the next page when more remain. */
async function roomMarkersPage(
  env: Env,
  limit: number,
  cursor?: string,
): Promise<{ markers: { name: string; marker: RoomMarker }[]; cursor?: string }> {
  let page: KVNamespaceListResult<RoomMarker, string>;
  try {
    page = await env.CHAT_KV.list<RoomMarker>({ prefix: ROOM_PREFIX, limit, cursor });
  } catch (err) {
    if (cursor) throw new StatusError(400, "cursor is not valid: pass the cursor of the previous page as it came");
    throw err;
  }
  const markers = page.keys.map((k) => ({ name: k.name.slice(ROOM_PREFIX.length), marker: k.metadata ?? {} }));
  return page.list_complete ? { markers } : { markers, cursor: page.cursor };
}

export async function listRooms(request: IRequest, env: Env): Promise<Response> {
  const query = parseWith(roomsQuerySchema, request.query);
  await limitRead(request, env);
  const [flags, page] = await Promise.all([loadFlags(env), roomMarkersPage(env, query.limit, query.cursor)]);
  const body: RoomsResponse = {
    rooms: page.markers.map(({ name }) => ({ name, mode: resolveMode(flags, name) })),
    ...(page.cursor ? { cursor: page.cursor } : {}),
  };
  return json(body);
}

/**
 * The bot's watch list (bot token): of one page of room markers, the rooms that may have
 * work: a do room whose marker says it has open prompts (or says nothing yet), and every kv
 * room (the racy path cannot say). One KV list per page of up to ROOMS_PAGE_MAX rooms, never a
 * call per room; `scanned` is how many markers the page held.
 */
export async function listRoomsWithWork(request: IRequest, env: Env): Promise<Response> {
  // Any bot's token (or the operator's); a registered bot sees only the rooms it serves.
  const bot = await botCaller(request, env);
  const query = parseWith(roomsQuerySchema, request.query);
  const [flags, page] = await Promise.all([loadFlags(env), roomMarkersPage(env, query.limit, query.cursor)]);
  const rooms = page.markers
    .map(({ name, marker }) => ({ name, mode: resolveMode(flags, name), marker }))
    .filter(({ name, mode, marker }) => servesRoom(bot.rooms, name) && (mode === "kv" || marker.work !== false))
    .map(({ name, mode }) => ({ name, mode }));
  const body: BotRoomsResponse = {
    rooms,
    scanned: page.markers.length,
    ...(page.cursor ? { cursor: page.cursor } : {}),
  };
  return json(body);
}

/**
 * Hands the upgrade to the room's DO, which accepts it with the hibernation API, or
 * accepts and at once closes it (4429/4503) past its socket caps.
 */
export async function roomSocket(request: IRequest, env: Env): Promise<Response> {
  const room = parseWith(roomSchema, request.params.room);
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    throw new StatusError(426, "expected a WebSocket upgrade");
  }
  requireAllowedOrigin(request as unknown as Request, env);
  await limitRead(request, env);
  const flags = await loadFlags(env);
  const mode = resolveMode(flags, room);
  // The room knows its name (ctx.id.name); its path and flag version it learns from us.
  const forwarded = new Request(request as unknown as Request);
  forwarded.headers.set(ROOM_MODE_HEADER, mode);
  forwarded.headers.set(FLAG_VERSION_HEADER, String(flags.version));
  // Set here, never taken from the client: the room counts sockets and sends by it.
  forwarded.headers.set(CLIENT_KEY_HEADER, requestClientKey(request as unknown as Request));
  const upgraded = await env.ROOM.getByName(room).fetch(forwarded);
  const headers = new Headers(upgraded.headers);
  headers.set(MODE_HEADER, mode);
  headers.set("x-content-type-options", "nosniff");
  return new Response(upgraded.body, { status: upgraded.status, headers, webSocket: upgraded.webSocket });
}
