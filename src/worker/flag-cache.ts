// The flag in force for this request: read from KV at most once per request and once
// per FLAG_CACHE_MS per isolate, by one request at a time.
import { defaultFlags, type FlagsDocument } from "../shared/flags";
import { FLAGS_KEY } from "../shared/keys";

/**
 * How long an isolate trusts the flag it last read. A flip reaches every isolate within
 * this (in production, plus KV's own propagation of up to ~60 s); a call made on a stale
 * flag is caught by the room (409, rerun on the kv path). The isolate that made the flip
 * sees it at once (rememberFlags).
 */
export const FLAG_CACHE_MS = 1000;
/**
 * While one request reads the expired flag, the others go on with the one they have (a
 * stale flag is covered as above), so a busy isolate reads once per FLAG_CACHE_MS, not once
 * per request that arrives during the read. A read that has not ended after this long (its
 * request was cancelled) no longer holds the others back.
 */
export const FLAG_READ_TIMEOUT_MS = 2000;

let known: { flags: FlagsDocument; until: number } | null = null;
/** When the read in flight started (0: none). */
let readingSince = 0;

/** The flag as published in KV, read at most once per request and once per FLAG_CACHE_MS. */
export async function loadFlags(env: Env): Promise<FlagsDocument> {
  const now = Date.now();
  if (known && (known.until > now || now - readingSince < FLAG_READ_TIMEOUT_MS)) return known.flags;
  const started = (readingSince = now);
  try {
    const flags = (await env.CHAT_KV.get<FlagsDocument>(FLAGS_KEY, "json")) ?? defaultFlags(env.CACHE_MODE);
    // A newer version seen here wins over an older one read meanwhile by another request.
    if (!known || flags.version >= known.flags.version) known = { flags, until: now + FLAG_CACHE_MS };
    return known.flags;
  } finally {
    if (readingSince === started) readingSince = 0;
  }
}

/** The flag this isolate just published: used from the next request on, without a KV read. */
export function rememberFlags(flags: FlagsDocument): void {
  known = { flags, until: Date.now() + FLAG_CACHE_MS };
}
