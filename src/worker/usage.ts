// The Worker's own KV operations, counted per request and recorded with the stats (one data
// point per request that used KV), so the cost bench can price the kv path and the Worker's
// share of the do path (flag reads, heal reads).
import { recordStat } from "../control/stats";
import { MODE_HEADER } from "../shared/api";
import type { PathMode } from "../shared/message";
import { Usage } from "../storage/usage";

/** Runs `handle` with an env whose KV is counted; reports what it spent once the answer is ready. */
export async function withCountedKv(
  env: Env,
  ctx: ExecutionContext,
  handle: (env: Env) => Promise<Response>,
): Promise<Response> {
  const usage = new Usage();
  const response = await handle({ ...env, CHAT_KV: usage.countingKv(env.CHAT_KV) });
  const kv = usage.kv();
  if (kv.kvReads || kv.kvWrites || kv.kvDeletes || kv.kvLists) {
    const mode = response.headers.get(MODE_HEADER);
    recordStat(env, (p) => ctx.waitUntil(p), {
      type: "usage",
      mode: mode === "kv" || mode === "do" ? (mode satisfies PathMode) : "none",
      kv,
    });
  }
  return response;
}
