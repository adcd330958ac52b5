// The flag in force for this request: read from KV at most once per request and once
// per FLAG_CACHE_MS per isolate.
import { defaultFlags, type FlagsDocument } from "../shared/flags";
import { FLAGS_KEY } from "../shared/keys";

/**
 * How long an isolate trusts the flag it last read. A flip reaches every isolate within
 * this (in production, plus KV's own propagation of up to ~60 s); a call made on a stale
 * flag is caught by the room (409, rerun on the kv path). The isolate that made the flip
 * sees it at once (rememberFlags).
 */
export const FLAG_CACHE_MS = 1000;
let known: { flags: FlagsDocument; until: number } | null = null;

/** The flag as published in KV, read at most once per request and once per FLAG_CACHE_MS. */
export async function loadFlags(env: Env): Promise<FlagsDocument> {
  const now = Date.now();
  if (known && known.until > now) return known.flags;
  const flags = (await env.CHAT_KV.get<FlagsDocument>(FLAGS_KEY, "json")) ?? defaultFlags(env.CACHE_MODE);
  // A newer version seen here wins over an older one read meanwhile by another request.
  if (!known || flags.version >= known.flags.version) known = { flags, until: now + FLAG_CACHE_MS };
  return known.flags;
}

/** The flag this isolate just published: used from the next request on, without a KV read. */
export function rememberFlags(flags: FlagsDocument): void {
  known = { flags, until: Date.now() + FLAG_CACHE_MS };
}
