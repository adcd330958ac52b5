// The operator page's calls: every one carries the ADMIN_TOKEN as a bearer token.
import type {
  CommentsResponse,
  DeleteResponse,
  FlagsResponse,
  FlipProgress,
  RoomSize,
  RoomsResponse,
  StatsResponse,
} from "../../shared/api";
import type { Message } from "../../shared/message";
import type { BotTokenResponse, BotsResponse } from "../../shared/bots";
import type { Flags } from "../../shared/flags";
import { requestJson } from "../../client/http";

export type Credentials = { token: string; operator?: string };

function headers({ token, operator }: Credentials): HeadersInit {
  return { authorization: `Bearer ${token}`, ...(operator ? { "x-operator": operator } : {}) };
}

export async function getFlags(auth: Credentials): Promise<FlagsResponse> {
  return (await requestJson<FlagsResponse>("/api/admin/flags", { headers: headers(auth) })).body;
}

/** A flip of more rooms than one request flushes answers 202: the same PUT continues it. */
const MAX_FLIP_STEPS = 1_000;

/**
 * Replaces the whole flag document (the API has no partial update), continuing a long flip to
 * its end; `progress` hears how many rooms are flushed so far and how many there are.
 */
export async function putFlags(
  auth: Credentials,
  flags: Flags,
  progress?: (flushed: number, total: number) => void,
): Promise<FlagsResponse> {
  let flushed = 0;
  for (let step = 1; ; step++) {
    const { status, body } = await requestJson<FlagsResponse & FlipProgress>("/api/admin/flags", {
      method: "PUT",
      headers: headers(auth),
      json: flags,
    });
    flushed += body.flushed?.length ?? 0;
    if (status !== 202 || step >= MAX_FLIP_STEPS) return body;
    progress?.(flushed, flushed + body.remaining);
  }
}

export async function getStats(auth: Credentials): Promise<StatsResponse> {
  return (await requestJson<StatsResponse>("/api/admin/stats", { headers: headers(auth) })).body;
}

/** Messages shown when a room is opened: its newest. */
export const ROOM_MESSAGES_SHOWN = 50;

export async function getRoomMessages(room: string): Promise<Message[]> {
  const { comments } = (
    await requestJson<CommentsResponse>(`/api/comments?room=${encodeURIComponent(room)}&limit=${ROOM_MESSAGES_SHOWN}`)
  ).body;
  // A kv room's list keeps deleted messages as tombstones: nothing left to show or delete.
  return comments.filter((m) => !m.deleted);
}

/** A room's live messages and its cap, from the room itself. */
export async function getRoomSize(auth: Credentials, room: string): Promise<RoomSize> {
  const path = `/api/admin/rooms/${encodeURIComponent(room)}`;
  const { count, maxMessages } = (await requestJson<RoomSize>(path, { headers: headers(auth) })).body;
  return { count, maxMessages };
}

/** Deletes one message of a room; deleting it again answers the same tombstone. */
export async function deleteMessage(auth: Credentials, room: string, id: string): Promise<DeleteResponse> {
  const path = `/api/admin/messages/${encodeURIComponent(id)}?room=${encodeURIComponent(room)}`;
  return (await requestJson<DeleteResponse>(path, { method: "DELETE", headers: headers(auth) })).body;
}

/** Rooms the operator page shows at once; the next page comes with the answer's cursor. */
export const ROOMS_PER_PAGE = 100;

export async function getRooms(cursor?: string): Promise<RoomsResponse> {
  const next = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
  return (await requestJson<RoomsResponse>(`/api/rooms?limit=${ROOMS_PER_PAGE}${next}`)).body;
}

// ---- bots ----

export async function getBots(auth: Credentials): Promise<BotsResponse & { statsError?: string }> {
  return (await requestJson<BotsResponse & { statsError?: string }>("/api/admin/bots", { headers: headers(auth) }))
    .body;
}

/** Creates a bot; the answer holds its token, shown this once. */
export async function createBot(
  auth: Credentials,
  bot: { name: string; model: string; rooms: string[] | "all" },
): Promise<BotTokenResponse> {
  return (await requestJson<BotTokenResponse>("/api/admin/bots", { method: "POST", headers: headers(auth), json: bot }))
    .body;
}

export async function rotateBot(auth: Credentials, name: string): Promise<BotTokenResponse> {
  const path = `/api/admin/bots/${encodeURIComponent(name)}/rotate`;
  return (await requestJson<BotTokenResponse>(path, { method: "POST", headers: headers(auth), json: {} })).body;
}

export async function revokeBot(auth: Credentials, name: string): Promise<void> {
  await requestJson(`/api/admin/bots/${encodeURIComponent(name)}`, { method: "DELETE", headers: headers(auth) });
}

export async function setDefaultBot(auth: Credentials, room: string, defaultBot: string | null): Promise<void> {
  const path = `/api/admin/rooms/${encodeURIComponent(room)}/bots`;
  await requestJson(path, { method: "PUT", headers: headers(auth), json: { defaultBot } });
}
