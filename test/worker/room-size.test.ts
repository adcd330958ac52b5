// A room's size: ROOM_MAX_MESSAGES counts live messages only, so an operator deletion frees
// its slot at once; POST /api/admin/rooms/:room/purge removes tombstones and old messages
// (never the latest change), audited in the Control object; room inspection shows the
// count against the cap. The suite runs with no cap (vitest.config.ts); these tests set
// the limits on their own rooms.
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Room } from "../../src/room/room";
import type { RoomState } from "../../src/room/log";
import type { RoomLimits } from "../../src/limits/retention";
import type { FlagsResponse, PurgeResponse } from "../../src/shared/api";
import { newMessageId, type Message } from "../../src/shared/message";
import { ADMIN, BOT, call, list, post, postJson, setRoomMode, uniqueRoom } from "./helpers";
import { backdate } from "./probes";

const DAY_MS = 86_400_000;
const ADMIN_AS = { ...ADMIN, "x-operator": "mod-bob" };

/** Sets one room's limits (the Room keeps them in a field for this). */
async function setLimits(room: string, limits: RoomLimits): Promise<void> {
  await runInDurableObject(env.ROOM.getByName(room), (instance: Room) => {
    (instance as unknown as { state: { limits: RoomLimits } }).state.limits = limits;
  });
}

const remove = (room: string, id: string) =>
  call(`/api/admin/messages/${id}?room=${room}`, { method: "DELETE", headers: ADMIN });

const purge = (room: string, body: unknown, headers: Record<string, string> = ADMIN_AS) =>
  call(`/api/admin/rooms/${room}/purge`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

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
      claims: sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM messages WHERE bot_id IS NOT NULL").one().n,
    };
  });

const purges = async () => (await (await call("/api/admin/flags", { headers: ADMIN })).json<FlagsResponse>()).purges;

/** Makes messages look `days` days old. */
const age = (room: string, messages: Message[], days: number) =>
  runInDurableObject(env.ROOM.getByName(room), (_: Room, state) => {
    for (const m of messages) {
      backdate(state.storage.sql, "UPDATE messages SET created_at = created_at - ? WHERE id = ?", days * DAY_MS, m.id);
    }
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

describe("POST /api/admin/rooms/:room/purge", () => {
  it("removes tombstones and old messages with their claims, keeps the latest change, audits it", async () => {
    const room = uniqueRoom("purge");
    await setRoomMode(room, "do");
    const [old, oldClaimed, deleted, fresh, latest] = [
      await post(room, "old"),
      await post(room, "old, claimed long ago"),
      await post(room, "spam"),
      await post(room, "fresh"),
      await post(room, "latest"),
    ];
    expect((await postJson("/api/bot/claim", { room, messageId: oldClaimed!.id, botId: "bot" }, BOT)).status).toBe(200);
    await runInDurableObject(env.ROOM.getByName(room), (_: Room, state) => {
      state.storage.sql.exec("UPDATE messages SET lease_until = ? WHERE id = ?", Date.now() - 1, oldClaimed!.id);
    });
    expect((await remove(room, deleted!.id)).status).toBe(200);
    await age(room, [old!, oldClaimed!], 2);
    // The deletion is the room's latest change now; a later post takes it over.
    const newest = await post(room, "newest");

    const tombstones = await purge(room, { tombstones: true });
    expect(tombstones.status).toBe(200);
    expect(await tombstones.json<PurgeResponse>()).toEqual({ removed: 1, count: 5 });
    expect((await stored(room)).ids).not.toContain(deleted!.id);

    const before = await purge(room, { before: Date.now() - DAY_MS });
    expect(await before.json<PurgeResponse>()).toEqual({ removed: 2, count: 3 });
    const left = await stored(room);
    expect(left.ids).toEqual([fresh!.id, latest!.id, newest.id]);
    expect(left.claims).toBe(0);
    expect(left.live).toBe(3);
    expect(await inspect(room)).toMatchObject({ count: 3 });

    // Everything asked for: the latest change stays, so change positions never go back.
    const lastPos = left.lastPos;
    const all = await purge(room, { before: Date.now() + DAY_MS, tombstones: true });
    expect(await all.json<PurgeResponse>()).toEqual({ removed: 2, count: 1 });
    const kept = await stored(room);
    expect(kept.ids).toEqual([newest.id]);
    expect(kept.lastPos).toBe(lastPos);
    expect((await list(room)).map((m) => m.id)).toEqual([newest.id]);
    const later = await post(room, "after the purge");
    expect(later.pos).toBeGreaterThan(lastPos);

    const audited = (await purges()).filter((p) => p.room === room);
    expect(audited).toHaveLength(3);
    expect(audited[0]).toMatchObject({ who: "mod-bob", tombstones: true, removed: 2 });
    expect(audited[2]).toMatchObject({ who: "mod-bob", before: null, tombstones: true, removed: 1 });
    expect(audited[1]).toMatchObject({ tombstones: false, removed: 2 });
    expect(typeof audited[1]!.before).toBe("number");
  });

  it("answers 400 on a bad body and changes nothing", async () => {
    const room = uniqueRoom("purge-bad");
    await setRoomMode(room, "do");
    const m = await post(room, "kept");
    await post(room, "kept too");
    expect((await remove(room, m.id)).status).toBe(200);
    const before = await stored(room);
    for (const body of [
      {},
      { tombstones: false },
      { before: "yesterday" },
      { before: -5 },
      { before: 1.5 },
      { tombstones: "yes" },
      { tombstones: true, extra: 1 },
      "not json",
      [],
    ]) {
      const res = await purge(room, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await res.json<{ error: string }>()).error).toEqual(expect.any(String));
    }
    expect(await stored(room)).toEqual(before);
    expect((await purges()).filter((p) => p.room === room)).toEqual([]);
  });

  it("needs the admin token", async () => {
    const room = uniqueRoom("purge-auth");
    await setRoomMode(room, "do");
    const m = await post(room, "kept");
    await post(room, "kept too");
    await remove(room, m.id);
    const before = await stored(room);
    expect((await purge(room, { tombstones: true }, {})).status).toBe(401);
    expect((await purge(room, { tombstones: true }, BOT)).status).toBe(401);
    expect(await stored(room)).toEqual(before);
  });

  it("answers 409 with X-Cache-Mode: kv for a kv room", async () => {
    const room = uniqueRoom("purge-kv");
    await setRoomMode(room, "kv");
    await post(room, "in the kv list");
    const res = await purge(room, { tombstones: true });
    expect(res.status).toBe(409);
    expect(res.headers.get("x-cache-mode")).toBe("kv");
    expect((await list(room)).map((m) => m.text)).toEqual(["in the kv list"]);
    expect((await purges()).filter((p) => p.room === room)).toEqual([]);
  });

  it("answers 405 for other methods", async () => {
    const res = await call(`/api/admin/rooms/${uniqueRoom("purge-405")}/purge`, { headers: ADMIN });
    expect(res.status).toBe(405);
  });
});

const setCap = (room: string, body: unknown, headers: Record<string, string> = ADMIN_AS) =>
  call(`/api/admin/rooms/${room}/limits`, {
    method: "PUT",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

const limitAudit = async () =>
  (await (await call("/api/admin/flags", { headers: ADMIN })).json<FlagsResponse>()).limits;

describe("an operator's cap for one room", () => {
  it("raises a full room's cap: posts land again, the room keeps the cap in storage, the audit names who", async () => {
    const room = uniqueRoom("size-raise");
    await setRoomMode(room, "do");
    await setLimits(room, { maxMessages: 2, retentionMs: 0 });
    await post(room, "one");
    await post(room, "two");
    expect((await postJson("/api/comments", { room, text: "three" })).status).toBe(507);

    const res = await setCap(room, { maxMessages: 3 });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ room, before: 2, maxMessages: 3, count: 2 });
    expect(await inspect(room)).toMatchObject({ count: 2, maxMessages: 3 });
    expect((await postJson("/api/comments", { room, text: "three" })).status).toBe(201);
    expect((await postJson("/api/comments", { room, text: "four" })).status).toBe(507);
    // Kept with the log: a restarted room reads it back instead of ROOM_MAX_MESSAGES.
    const kept = await runInDurableObject(env.ROOM.getByName(room), (_: Room, state) =>
      state.storage.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'maxMessages'").one(),
    );
    expect(kept.value).toBe("3");
    const audit = (await limitAudit()).filter((entry) => entry.room === room);
    expect(audit).toEqual([{ room, who: "mod-bob", at: expect.any(Number), before: 2, after: 3 }]);
  });

  it("refuses a bad body (400) or a missing token (401) and changes nothing", async () => {
    const room = uniqueRoom("size-bad");
    await setRoomMode(room, "do");
    await post(room, "one");
    const size = async () => {
      const { count, maxMessages } = await inspect(room);
      return { count, maxMessages, audit: (await limitAudit()).length };
    };
    const before = await size();
    for (const body of [{}, { maxMessages: 0 }, { maxMessages: 1.5 }, { maxMessages: "9" }, { maxMessages: 2e7 }]) {
      const res = await setCap(room, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    expect((await setCap(room, { maxMessages: 5 }, {})).status).toBe(401);
    expect((await setCap(room, { maxMessages: 5 }, BOT)).status).toBe(401);
    expect(await size()).toEqual(before);
  });
});
