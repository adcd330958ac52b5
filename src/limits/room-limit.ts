// Room creation per client key: the first message of a room that has never had one
// goes through ROOM_LIMITER, so one address cannot spray messages over thousands of
// new rooms (each a Durable Object, a marker, a list entry). Exempt keys and tokens as
// for the post limit.
import { limitKey, type PostLimited } from "./post-limit";

/** Counts one new room against `key`: null when it may be created, else the 429 to answer. */
export async function limitNewRoom(
  env: Pick<Env, "ROOM_LIMITER" | "RATE_LIMIT_EXEMPT">,
  key: string,
): Promise<PostLimited | null> {
  return limitKey(
    env,
    "ROOM_LIMITER",
    key,
    (s) => `too many new rooms from your address; post in an existing room, or create this one in ${s} s`,
  );
}
