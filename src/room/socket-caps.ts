// How many sockets a room holds: at most ROOM_MAX_SOCKETS in all and
// ROOM_MAX_SOCKETS_PER_CLIENT per client key. Each socket is tagged with its client
// key at accept, so both counts come from the runtime's own socket lists.
import { ROOM_FULL_CLOSE, TOO_MANY_SOCKETS_CLOSE } from "../shared/frames";

export type SocketLimits = { perRoom: number; perClient: number };

/** What the room remembers of a socket across hibernation (serializeAttachment); `call`: how a do socket entered. */
export type SocketClient = { key: string; call?: { room: string; flagVersion: number } };

const positive = (value: string | undefined, fallback: number): number => {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : fallback;
};

export function socketLimits(env: Pick<Env, "ROOM_MAX_SOCKETS" | "ROOM_MAX_SOCKETS_PER_CLIENT">): SocketLimits {
  return { perRoom: positive(env.ROOM_MAX_SOCKETS, 2000), perClient: positive(env.ROOM_MAX_SOCKETS_PER_CLIENT, 20) };
}

/** A socket's tag for its client (tags are at most 256 characters; keys are at most 64). */
export const clientTag = (key: string): string => `client:${key}`;

/** The close code and reason for one more socket of `key`, or null when it fits. */
export function capRefusal(ctx: DurableObjectState, key: string, exempt: boolean, limits: SocketLimits): { code: number; reason: string } | null {
  if (ctx.getWebSockets().length >= limits.perRoom) {
    return { code: ROOM_FULL_CLOSE, reason: `room is full (${limits.perRoom} sockets); poll instead and retry later` };
  }
  if (!exempt && ctx.getWebSockets(clientTag(key)).length >= limits.perClient) {
    return { code: TOO_MANY_SOCKETS_CLOSE, reason: `too many sockets from your address in this room (${limits.perClient}); poll instead` };
  }
  return null;
}

/** The client a socket was accepted for; null for sockets accepted before sockets carried one. */
export function socketClient(ws: WebSocket): SocketClient | null {
  const attachment = ws.deserializeAttachment() as SocketClient | null;
  return attachment && typeof attachment.key === "string" ? attachment : null;
}
