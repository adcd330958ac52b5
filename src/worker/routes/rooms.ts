// The room list (from KV `room:<name>` markers) and the live WebSocket.
import type { IRequest } from "itty-router";
import { MODE_HEADER, type RoomsResponse } from "../../shared/api";
import { resolveMode } from "../../shared/flags";
import { roomSchema } from "../../shared/schemas";
import { loadFlags } from "../flag-cache";
import { StatusError, json, parseWith } from "../http";
import { ROOM_PREFIX } from "../../shared/keys";
import { CLIENT_KEY_HEADER, FLAG_VERSION_HEADER, ROOM_HEADER, ROOM_MODE_HEADER } from "../../room/room";
import { requestClientKey } from "../../limits/client-key";
import { requireAllowedOrigin } from "../origin";

export async function listRoomNames(env: Env): Promise<string[]> {
  const names: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.CHAT_KV.list({ prefix: ROOM_PREFIX, cursor });
    names.push(...page.keys.map((k) => k.name.slice(ROOM_PREFIX.length)));
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return names;
}

export async function listRooms(_request: IRequest, env: Env): Promise<Response> {
  const [flags, names] = await Promise.all([loadFlags(env), listRoomNames(env)]);
  const body: RoomsResponse = { rooms: names.map((name) => ({ name, mode: resolveMode(flags, name) })) };
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
  const flags = await loadFlags(env);
  const mode = resolveMode(flags, room);
  // The room learns its name, path and flag version from us, not from our URL.
  const forwarded = new Request(request as unknown as Request);
  forwarded.headers.set(ROOM_HEADER, room);
  forwarded.headers.set(ROOM_MODE_HEADER, mode);
  forwarded.headers.set(FLAG_VERSION_HEADER, String(flags.version));
  // Set here, never taken from the client: the room counts sockets and sends by it.
  forwarded.headers.set(CLIENT_KEY_HEADER, requestClientKey(request as unknown as Request));
  const upgraded = await env.ROOM.getByName(room).fetch(forwarded);
  const headers = new Headers(upgraded.headers);
  headers.set(MODE_HEADER, mode);
  return new Response(upgraded.body, { status: upgraded.status, headers, webSocket: upgraded.webSocket });
}
