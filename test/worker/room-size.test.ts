// A room's size: ROOM_MAX_MESSAGES counts live messages only, so an operator deletion frees
// its slot at once; room inspection shows the count against the cap. The suite runs with
// no cap (vitest.config.ts); these tests set the limits on their own rooms.
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Room } from "../../src/room/room";
import type { RoomState } from "../../src/room/log";
import type { RoomLimits } from "../../src/limits/retention";
import { newMessageId } from "../../src/shared/message";
import { ADMIN, call, post, postJson, setRoomMode, uniqueRoom } from "./helpers";

/** Sets one room's limits (the Room keeps them in a field for this). */
async function setLimits(room: string, limits: RoomLimits): Promise<void> {
  await runInDurableObject(env.ROOM.getByName(room), (instance: Room) => {
    (instance as unknown as { state: { limits: RoomLimits } }).state.limits = limits;
  });
}

const remove = (room: string, id: string) =>
  call(`/api/admin/messages/${id}?room=${room}`, { method: "DELETE", headers: ADMIN });

const inspect = async (room: string) =>
  (await call(`/api/admin/rooms/${room}`, { headers: ADMIN })).json<{ count: number; maxMessages: number }>();

/** What the log holds, straight from storage: the cached count must always match it. */
const stored = (room: string) =>
  runInDurableObject(env.ROOM.getByName(room), (_: Room, state) => {
    const sql = state.storage.sql;
    return {
      live: sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM messages WHERE deleted_at IS NULL").one().n,
      ids: sql
        .exec<{ id: string }>("SELECT id FROM messages ORDER BY seq")
        .toArray()
        .map((r) => r.id),
      lastPos: sql.exec<{ p: number }>("SELECT MAX(pos) AS p FROM messages").one().p,
      claims: sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM claims").one().n,
    };
  });

describe("the cap counts live messages", () => {
  it("a room at its cap takes a post again once an operator deletes a message", async () => {
    const room = uniqueRoom("size-cap");
    await setRoomMode(room, "do");
    await setLimits(room, { maxMessages: 3, retentionMs: 0 });
    const [first] = [await post(room, "one"), await post(room, "two"), await post(room, "three")];
    expect(await inspect(room)).toMatchObject({ count: 3, maxMessages: 3 });

    const full = await postJson("/api/comments", { room, text: "four" });
    expect(full.status).toBe(507);

    expect((await remove(room, first!.id)).status).toBe(200);
    expect(await inspect(room)).toMatchObject({ count: 2, maxMessages: 3 });
    const again = await postJson("/api/comments", { room, text: "four, after the deletion" });
    expect(again.status).toBe(201);

    // The tombstone is still kept (its id stays final); the cached count matches storage.
    const after = await stored(room);
    expect(after.ids).toContain(first!.id);
    expect(after.live).toBe(3);
    expect((await inspect(room)).count).toBe(3);
    expect((await postJson("/api/comments", { room, text: "five" })).status).toBe(507);
    // Deleting a tombstone again frees nothing more.
    expect((await remove(room, first!.id)).status).toBe(200);
    expect((await inspect(room)).count).toBe(3);
  });

  it("keeps the cached count equal to storage (never-logged tombstone, rollback, removal)", async () => {
    const room = uniqueRoom("size-cache");
    await setRoomMode(room, "do");
    const [a, b] = [await post(room, "a"), await post(room, "b")];
    const counts = await runInDurableObject(env.ROOM.getByName(room), (instance: Room, state) => {
      const roomState = (instance as unknown as { state: RoomState }).state;
      const { log } = roomState;
      const live = () =>
        state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM messages WHERE deleted_at IS NULL").one().n;
      const seen: [number, number][] = [[log.count(), live()]];
      // A message the log never had becomes a tombstone: it never takes a slot.
      log.tombstone({ ...a, id: newMessageId(), text: "never logged" }, Date.now());
      seen.push([log.count(), live()]);
      // An insert rolled back leaves the count as it was.
      expect(() =>
        roomState.transaction(() => {
          log.insert({ ...a, id: newMessageId() });
          throw new Error("roll back");
        }),
      ).toThrow("roll back");
      seen.push([log.count(), live()]);
      // Removing a tombstone frees nothing; removing a live message frees one.
      log.tombstone(b, Date.now());
      seen.push([log.count(), live()]);
      log.remove([b.id, a.id]);
      seen.push([log.count(), live()]);
      return seen;
    });
    expect(counts).toEqual([
      [2, 2],
      [2, 2],
      [2, 2],
      [1, 1],
      [0, 0],
    ]);
  });
});
