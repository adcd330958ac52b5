// The kv path's per-message KV records and room markers (in do mode the Room's
// outbox writes them instead, src/room/outbox.ts).
import { commentKey, roomKey } from "../shared/keys";
import { toRecord, type Message } from "../shared/message";
import { recordExpiry } from "../limits/retention";

export { readRecord } from "../storage/records";

/** A record expires with its message under ROOM_RETENTION_DAYS (`retentionMs`; 0: never). */
export async function writeRecord(kv: KVNamespace, message: Message, retentionMs: number): Promise<void> {
  await kv.put(
    commentKey(message.room, message.id),
    JSON.stringify(toRecord(message)),
    recordExpiry(message.createdAt, retentionMs),
  );
}

// Rooms this isolate already marked; the marker is written once per room, never a shared list.
const knownRooms = new Set<string>();

/** Whether the room has its marker (has had a message); a room seen marked once is not read again. */
export async function isMarked(kv: KVNamespace, room: string): Promise<boolean> {
  if (knownRooms.has(room)) return true;
  const marked = (await kv.get(roomKey(room))) !== null;
  if (marked) knownRooms.add(room);
  return marked;
}

export async function markRoom(kv: KVNamespace, room: string): Promise<void> {
  if (await isMarked(kv, room)) return;
  await kv.put(roomKey(room), JSON.stringify({ createdAt: Date.now() }));
  knownRooms.add(room);
}
