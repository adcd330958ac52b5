// Reading messages' KV records, for the Worker and the room alike: the room's own key first,
// then the first version's global key, which counts only if its record names the same room.
import { commentKey, legacyCommentKey } from "../shared/keys";
import type { Message } from "../shared/message";

/** KV's bulk get takes at most this many keys. */
export const MAX_KV_BULK = 100;

/**
 * One message's record in `room`; without a room (the first version's clients, which name
 * only the id), the legacy global record alone.
 */
export async function readRecord(kv: KVNamespace, room: string | undefined, id: string): Promise<Message | null> {
  if (room) {
    const scoped = await kv.get<Message>(commentKey(room, id), "json");
    if (scoped) return scoped;
  }
  const legacy = await kv.get<Message>(legacyCommentKey(id), "json");
  return legacy && (!room || legacy.room === room) ? legacy : null;
}

/** Records of several messages of `room` (at most MAX_KV_BULK ids): two bulk reads at most. */
export async function readRecords(kv: KVNamespace, room: string, ids: string[]): Promise<Message[]> {
  if (ids.length > MAX_KV_BULK) throw new Error(`at most ${MAX_KV_BULK} ids per read`);
  if (!ids.length) return [];
  const scoped = await kv.get<Message>(
    ids.map((id) => commentKey(room, id)),
    "json",
  );
  const found = ids.map((id) => scoped.get(commentKey(room, id)) ?? null);
  const missing = ids.filter((_, i) => !found[i]);
  if (missing.length) {
    const legacy = await kv.get<Message>(missing.map(legacyCommentKey), "json");
    for (const record of legacy.values()) if (record && record.room === room) found.push(record);
  }
  return found.filter((record): record is Message => record !== null);
}
