// What the address bar asks for: the room (/r/<room>, ?room=, else lobby) and the
// test-only poll override (?poll=<ms>).
import { DEFAULT_ROOM, ROOM_PATTERN } from "../../shared/message";

export type RoomChoice = { room: string; invalid?: string };

export function roomFromLocation(location: Pick<Location, "pathname" | "search">): RoomChoice {
  const fromPath = /^\/r\/([^/]+)\/?$/.exec(location.pathname)?.[1];
  const asked = fromPath !== undefined ? safeDecode(fromPath) : new URLSearchParams(location.search).get("room");
  if (asked === null || asked.trim() === "") return { room: DEFAULT_ROOM };
  const room = normalizeRoom(asked);
  return room ? { room } : { room: DEFAULT_ROOM, invalid: asked };
}

/** Lower-cases and trims; null when the name still is not a valid room. */
export function normalizeRoom(value: string): string | null {
  const room = value.trim().toLowerCase();
  return ROOM_PATTERN.test(room) ? room : null;
}

export function roomPath(room: string): string {
  return `/r/${encodeURIComponent(room)}`;
}

/**
 * `?poll=<ms>` shortens (or lengthens) the poll interval so browser tests need not
 * wait 5–7 s; without it the production cadence applies.
 */
export function pollOverride(search: string): number | null {
  const raw = new URLSearchParams(search).get("poll");
  const ms = raw === null ? NaN : Number(raw);
  if (!Number.isFinite(ms)) return null;
  return Math.min(600_000, Math.max(200, Math.round(ms)));
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
