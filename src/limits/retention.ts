// Per-room growth limits (ROOM_MAX_MESSAGES, ROOM_RETENTION_DAYS) and what they mean for
// KV: a message's record expires when the room's alarm would delete the message.
const DAY_MS = 86_400_000;
/** KV refuses an expiration less than 60 s ahead; a little more covers clock skew. */
const KV_MIN_EXPIRY_S = 90;

export type RoomLimits = {
  /** messages a room's log holds before new human posts are refused (507); 0: no cap */
  maxMessages: number;
  /** how long a message is kept, in ms; 0: forever */
  retentionMs: number;
};

export const DEFAULT_MAX_MESSAGES = 100_000;
export const DEFAULT_RETENTION_DAYS = 365;

const nonNegative = (value: string | undefined, fallback: number): number => {
  const n = Number(value);
  return value !== undefined && value.trim() !== "" && Number.isFinite(n) && n >= 0 ? n : fallback;
};

export function roomLimits(env: Pick<Env, "ROOM_MAX_MESSAGES" | "ROOM_RETENTION_DAYS">): RoomLimits {
  return {
    maxMessages: Math.floor(nonNegative(env.ROOM_MAX_MESSAGES, DEFAULT_MAX_MESSAGES)),
    retentionMs: nonNegative(env.ROOM_RETENTION_DAYS, DEFAULT_RETENTION_DAYS) * DAY_MS,
  };
}

/** A heal of a message retention (or an operator's purge) already deleted: final, like a deletion. */
export const PAST_RETENTION_ERROR = "message is past the room's retention: it was deleted and cannot be healed back";

/**
 * The oldest creation time a room still keeps: messages created before it were (or are about
 * to be) deleted by retention or by a purge of everything `before` it, and no heal brings them back.
 */
export function keptSince(limits: RoomLimits, now: number, purgedBefore = 0): number {
  return Math.max(limits.retentionMs ? now - limits.retentionMs : 0, purgedBefore);
}

/** KV put options for a message's record: it expires with the message (never, without retention). */
export function recordExpiry(createdAt: number, retentionMs: number, now = Date.now()): KVNamespacePutOptions {
  if (!retentionMs) return {};
  const at = Math.ceil((createdAt + retentionMs) / 1000);
  return { expiration: Math.max(at, Math.ceil(now / 1000) + KV_MIN_EXPIRY_S) };
}
