// The kv path's per-message KV records and room markers (in do mode the Room's
// outbox writes them instead, src/room/kv-writes.ts).
import { commentKey, roomKey } from "../shared/keys";
import { toRecord, type Message } from "../shared/message";

export async function readRecord(kv: KVNamespace, id: string): Promise<Message | null> {
  return kv.get<Message>(commentKey(id), "json");
}

export async function writeRecord(kv: KVNamespace, message: Message): Promise<void> {
  await kv.put(commentKey(message.id), JSON.stringify(toRecord(message)));
}

// Rooms this isolate already marked; the marker is written once per room, never a shared list.
const knownRooms = new Set<string>();

export async function markRoom(kv: KVNamespace, room: string): Promise<void> {
  if (knownRooms.has(room)) return;
  if ((await kv.get(roomKey(room))) === null) await kv.put(roomKey(room), JSON.stringify({ createdAt: Date.now() }));
  knownRooms.add(room);
}
