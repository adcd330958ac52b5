// The kv path's per-message KV records and room markers (in do mode the Room's
// outbox writes them instead, src/room/outbox.ts).
import { commentKey, roomKey } from "../shared/keys";
import { toRecord, type Message } from "../shared/message";
import { recordExpiry } from "../limits/retention";
import { markerExpiry, markerNeedsRefresh, type RoomMarker } from "../shared/room-marker";

export { readRecord } from "../storage/records";

/** A record expires with its message under ROOM_RETENTION_DAYS (`retentionMs`; 0: never). */
export async function writeRecord(kv: KVNamespace, message: Message, retentionMs: number): Promise<void> {
  await kv.put(
    commentKey(message.room, message.id),
    JSON.stringify(toRecord(message)),
    recordExpiry(message.createdAt, retentionMs),
  );
}

// Rooms this isolate already marked, with when their marker expires (0: never); the marker is
// written once per room (and again as its expiry nears), never a shared list.
const knownRooms = new Map<string, number>();

/** Whether the room has its marker (has had a message); a room seen marked once is not read again. */
export async function isMarked(kv: KVNamespace, room: string): Promise<boolean> {
  if (knownRooms.has(room)) return true;
  const { value, metadata } = await kv.getWithMetadata<RoomMarker>(roomKey(room));
  if (value !== null) knownRooms.set(room, metadata?.until ?? 0);
  return value !== null;
}

/**
 * The kv path's marker: no `work` (the racy path cannot say; bots poll kv rooms), and an expiry
 * that a post renews as it nears, so a room idle past retention drops out of the lists.
 */
export async function markRoom(kv: KVNamespace, room: string, retentionMs = 0): Promise<void> {
  const now = Date.now();
  if ((await isMarked(kv, room)) && !markerNeedsRefresh(knownRooms.get(room) ?? 0, now, retentionMs)) return;
  const until = markerExpiry(now, retentionMs);
  await kv.put(roomKey(room), JSON.stringify({ createdAt: now }), {
    metadata: (until ? { until } : {}) satisfies RoomMarker,
    ...(until ? { expiration: Math.ceil(until / 1000) } : {}),
  });
  knownRooms.set(room, until ?? 0);
}
