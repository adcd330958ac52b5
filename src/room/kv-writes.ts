// What outbox keys mean as KV writes: a message's record, or the room's marker. A
// record that already belongs to another room is never replaced (client-chosen ids
// may collide across rooms; each room only ever vouches for its own messages). One
// bulk read per batch checks ownership, so the check costs one KV call, not one per key.
import { COMMENT_PREFIX, ROOM_PREFIX } from "../shared/keys";
import { toRecord, type Message } from "../shared/message";
import { recordExpiry } from "../limits/retention";

export type WriteOutcome = "written" | "conflict" | "gone";

/** KV's bulk get takes at most this many keys. */
export const MAX_BATCH = 100;
/** Puts of one batch sent at once. */
export const PUTS_IN_FLIGHT = 10;

/** Writes each key; answers, per key, what happened or the error to retry on. Records expire with their message (`retentionMs`). */
export async function writeOwed(
  kv: KVNamespace,
  keys: string[],
  room: string,
  find: (id: string) => Message | null,
  retentionMs = 0,
): Promise<(WriteOutcome | Error)[]> {
  const records = keys.filter((key) => key.startsWith(COMMENT_PREFIX));
  let stored: Map<string, Message | null>;
  try {
    stored = records.length ? await kv.get<Message>(records, "json") : new Map();
  } catch (err) {
    return keys.map(() => asError(err));
  }
  const write = async (key: string): Promise<WriteOutcome | Error> => {
    try {
      if (key.startsWith(ROOM_PREFIX)) {
        if ((await kv.get(key)) === null) await kv.put(key, JSON.stringify({ createdAt: Date.now() }));
        return "written";
      }
      const message = find(key.slice(COMMENT_PREFIX.length));
      if (!message) return "gone";
      const existing = stored.get(key);
      if (existing && existing.room !== room) return "conflict";
      await kv.put(key, JSON.stringify(toRecord(message)), recordExpiry(message.createdAt, retentionMs));
      return "written";
    } catch (err) {
      return asError(err);
    }
  };
  // A few puts at a time: a backlog of a hundred must not flood KV (locally, the process the room shares with it).
  const outcomes: (WriteOutcome | Error)[] = [];
  for (let i = 0; i < keys.length; i += PUTS_IN_FLIGHT) outcomes.push(...(await Promise.all(keys.slice(i, i + PUTS_IN_FLIGHT).map(write))));
  return outcomes;
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));
