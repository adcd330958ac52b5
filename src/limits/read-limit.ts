// The read limit: reads (lists, single messages, versions, room lists, socket upgrades) per
// client key, on one rate-limiting binding (READ_LIMITER). Generous for a page, which polls
// every few seconds; a script asking for thousands of room names a second meets 429 first.
import type { IRequest } from "itty-router";
import { StatusError } from "../worker/http";
import { roleOf } from "../worker/auth";
import { requestClientKey } from "./client-key";
import { limitKey } from "./post-limit";

/**
 * Counts one read against the request's client key; 429 past the limit. The operator and the
 * legacy BOT_TOKEN are not counted; a registered bot's reads count against its address like anyone's.
 */
export async function limitRead(request: IRequest, env: Env): Promise<void> {
  if (request.headers.has("authorization") && (await roleOf(request as unknown as Request, env))) return;
  const limited = await limitKey(
    env,
    "READ_LIMITER",
    requestClientKey(request as unknown as Request),
    (s) => `reading too fast: too many requests from your address; try again in ${s} s`,
  );
  if (limited) throw new StatusError(429, limited);
}
