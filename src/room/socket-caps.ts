// How many sockets a room holds: at most ROOM_MAX_SOCKETS in all and
// ROOM_MAX_SOCKETS_PER_CLIENT per client key. Each socket is tagged with its client
// key at accept, so both counts come from the runtime's own socket lists. And how many
// frames one socket may send: a token bucket per socket, in the room's memory.
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

/**
 * Frames one socket may send, by default (SOCKET_FRAME_RATE and SOCKET_FRAME_BURST): FRAME_RATE
 * a second on average, FRAME_BURST at once. The burst is wide because a page that was told to
 * slow down resends every message it queued meanwhile together (twice the post limit is the
 * most it holds in practice).
 */
export const FRAME_RATE = 10;
export const FRAME_BURST = 60;

export type FrameLimits = { rate: number; burst: number };

export function frameLimits(env: Pick<Env, "SOCKET_FRAME_RATE" | "SOCKET_FRAME_BURST">): FrameLimits {
  return { rate: positive(env.SOCKET_FRAME_RATE, FRAME_RATE), burst: positive(env.SOCKET_FRAME_BURST, FRAME_BURST) };
}

export type FrameVerdict = "ok" | "warn" | "close";

/**
 * Meters every frame a socket sends, whatever its type (sends, stops, pings the runtime
 * does not answer itself, junk): a page sends a few a minute, a script thousands a second.
 * In memory only: a room woken from hibernation starts each socket with a full bucket,
 * which costs nothing and lets through at most one more burst. Exempt client keys (a
 * lab on loopback) are not metered.
 */
export class FrameMeter {
  private readonly buckets = new WeakMap<WebSocket, { tokens: number; at: number; warned: boolean; exempt: boolean }>();

  constructor(readonly limits: FrameLimits) {}

  /** "ok": answer the frame; "warn": the first time over, drop it and warn; "close": over again. */
  take(ws: WebSocket, exempt: () => boolean, now: number): FrameVerdict {
    let bucket = this.buckets.get(ws);
    if (!bucket) {
      bucket = { tokens: this.limits.burst, at: now, warned: false, exempt: exempt() };
      this.buckets.set(ws, bucket);
    }
    if (bucket.exempt) return "ok";
    bucket.tokens = Math.min(this.limits.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.limits.rate);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return "ok";
    }
    if (bucket.warned) return "close";
    bucket.warned = true;
    return "warn";
  }
}
