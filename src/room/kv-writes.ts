// What an outbox key means as a KV write: a message's record, or the room's marker.
// A record that already belongs to another room is never replaced (client-chosen ids
// may collide across rooms; each room only ever vouches for its own messages).
import { COMMENT_PREFIX, ROOM_PREFIX } from "../shared/keys";
import { toRecord, type Message } from "../shared/message";

export type WriteOutcome = "written" | "conflict" | "gone";

export async function writeOwed(kv: KVNamespace, key: string, room: string, find: (id: string) => Message | null): Promise<WriteOutcome> {
  if (key.startsWith(ROOM_PREFIX)) {
    if ((await kv.get(key)) === null) await kv.put(key, JSON.stringify({ createdAt: Date.now() }));
    return "written";
  }
  const message = find(key.slice(COMMENT_PREFIX.length));
  if (!message) return "gone";
  const existing = await kv.get<Message>(key, "json");
  if (existing && existing.room !== room) return "conflict";
  await kv.put(key, JSON.stringify(toRecord(message)));
  return "written";
}
