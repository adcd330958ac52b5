// A room's KV marker (`room:<name>`): that the room exists, and in its metadata what a bot
// needs to know from a listing alone (GET /api/bot/rooms reads one KV list per page, never a
// key per room). A marker expires unless its room stays active: a room idle past retention,
// its messages swept, drops out of the room lists by itself.

/** `work`: the room has prompts waiting for (or getting) an answer (absent: unknown, e.g. a kv room); `until`: expiry, epoch ms. */
export type RoomMarker = { work?: boolean; until?: number };

/** KV refuses an expiration less than 60 s ahead; a little more covers clock skew. */
const KV_MIN_AHEAD_MS = 90_000;

/**
 * When a marker written at `now` expires (null: never, without retention): half a retention
 * after the room's last message could be swept, so it never expires while the room holds one.
 */
export function markerExpiry(now: number, retentionMs: number): number | null {
  if (!retentionMs) return null;
  return now + Math.max(retentionMs * 1.5, KV_MIN_AHEAD_MS);
}

/** A marker expiring within a retention period is written again by the room's next change (at most twice a period). */
export function markerNeedsRefresh(until: number, now: number, retentionMs: number): boolean {
  if (!retentionMs) return until !== 0;
  return until === 0 || until - now < retentionMs;
}
