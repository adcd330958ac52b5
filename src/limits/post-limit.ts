// The post limit: human messages per client key, HTTP posts and socket sends counted
// together by one rate-limiting binding (POST_LIMITER). The Worker applies it to
// POST /api/comments, the room to socket sends (it cannot see the Worker's requests).
import { RATE_LIMITS } from "../shared/rate-limits";
import { isExempt } from "./client-key";

/** POST_LIMITER's period: windows roll over on multiples of it. */
export const POST_LIMIT_PERIOD_S = RATE_LIMITS.POST_LIMITER.period;

export type PostLimited = { status: 429; error: string; retryAfter: number };

/** Seconds until the limiter's current window ends (windows are aligned to the wall clock); at least 1. */
export function secondsToNextWindow(now: number, periodS: number = POST_LIMIT_PERIOD_S): number {
  return Math.max(1, Math.ceil(periodS - ((now / 1000) % periodS)));
}

/** Counts one message against `key`: null when it may go ahead, else the 429 to answer. */
export async function limitPost(
  env: Pick<Env, "POST_LIMITER" | "RATE_LIMIT_EXEMPT">,
  key: string,
): Promise<PostLimited | null> {
  // Checked here too: an exempt sender (a load lab) pays no limiter frame and no message closure.
  if (isExempt(env, key)) return null;
  return limitKey(
    env,
    "POST_LIMITER",
    key,
    (s) => `sending too fast: too many messages from your address; send again in ${s} s`,
  );
}

/** Counts one Stop (over HTTP or a socket) against `key`: a person presses it rarely, a script on every reply. */
export async function limitStop(
  env: Pick<Env, LimiterName | "RATE_LIMIT_EXEMPT">,
  key: string,
): Promise<PostLimited | null> {
  return limitKey(env, "STOP_LIMITER", key, (s) => `too many Stop requests from your address; try again in ${s} s`);
}

/** A rate-limiting binding, by its wrangler.toml name (its period is in RATE_LIMITS). */
export type LimiterName = keyof typeof RATE_LIMITS;

/** One count against `key` on the named limiter (exempt keys are not counted): null, or the 429 with its Retry-After. */
export async function limitKey<N extends LimiterName>(
  env: Pick<Env, "RATE_LIMIT_EXEMPT" | N>,
  name: N,
  key: string,
  error: (retryAfter: number) => string,
): Promise<PostLimited | null> {
  if (isExempt(env, key)) return null;
  const { success } = await (env[name] as RateLimit).limit({ key });
  if (success) return null;
  const retryAfter = secondsToNextWindow(Date.now(), RATE_LIMITS[name].period);
  return { status: 429, error: error(retryAfter), retryAfter };
}
