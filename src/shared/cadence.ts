// How often a page talks to the server. One source for the page (src/web/chat) and
// the race lab's simulated tabs (bench/lib), so the lab measures what the page does.

/** [min, max) ms between polls when polling is the path (kv mode, or no socket). */
export const POLL_MS: readonly [number, number] = [5_000, 7_000];
/** With the do-mode socket open and nothing to verify: a rare safety poll. */
export const IDLE_POLL_WITH_SOCKET_MS: readonly [number, number] = [100_000, 120_000];
/** Right after a heal re-added something: confirm it soon. */
export const RECHECK_MS: readonly [number, number] = [1_500, 2_500];
/** Keep-alive ping on the socket; under the ~100 s idle cut-off of proxies, answered without waking the room. */
export const PING_EVERY_MS = 60_000;
/** A socket neither pinging nor sending for this long vanished without a close: presence drops it. */
export const SOCKET_SILENT_MS = PING_EVERY_MS * 2.5;
/** A page tells the room its person is typing at most this often; others show it this long. */
export const TYPING_EVERY_MS = 2_000;
export const TYPING_SHOWN_MS = 5_000;
/** A bot that has not asked a room for work for this long is not answering it. */
export const BOT_AWAY_MS = 60_000;
/** Reconnect backoff ceiling for the socket. */
export const MAX_BACKOFF_MS = 30_000;
/** A room that refused our socket (over its caps, close 4429/4503): poll, and ask again this much later. */
export const REFUSED_RETRY_MS: readonly [number, number] = [60_000, 90_000];

/** A random delay in [min, max): spreads clients so they do not act in lockstep. */
export function jitter(min: number, max: number): number {
  return min + Math.random() * (max - min);
}
