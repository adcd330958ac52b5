// Retention and the room cap: the room's alarm deletes messages older
// than ROOM_RETENTION_DAYS (in batches, with their claims, keeping one a bot is answering),
// KV records expire with them, and a room at ROOM_MAX_MESSAGES refuses new human messages
// with 507 while keeping every message it acknowledged. The suite runs with retention off
// (vitest.config.ts); these tests set the limits on their own rooms.
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { RETENTION_BATCH, type Room } from "../../src/room/room";
import { PAST_RETENTION_ERROR, recordExpiry, type RoomLimits } from "../../src/limits/retention";
import { commentKey } from "../../src/shared/keys";
import { newMessageId, type Message } from "../../src/shared/message";
import { ADMIN, BOT, call, connect, frameOf, heal, list, post, postJson, setRoomMode, uniqueRoom } from "./helpers";
import { backdate, outboxDrained } from "./probes";

const DAY_MS = 86_400_000;

/** Sets one room's limits (the Room keeps them in a field for this). */
async function setLimits(room: string, limits: RoomLimits): Promise<void> {
  await runInDurableObject(env.ROOM.getByName(room), (instance: Room) => {
    (instance as unknown as { state: { limits: RoomLimits } }).state.limits = limits;
  });
}

const claim = (room: string, messageId: string, botId: string) =>
  postJson("/api/bot/claim", { room, messageId, botId }, BOT);

describe("retention (ROOM_RETENTION_DAYS)", () => {
  it("finds a message healed in late but created long ago (its seq range's mark keeps the oldest creation time)", async () => {
    const room = uniqueRoom("retention-late");
    await setRoomMode(room, "do");
    const fresh = await post(room, "fresh");
    // A record of this room's, missing from its log and two days old: a heal logs it now, at the newest seq.
    const createdAt = Date.now() - 2 * DAY_MS;
    const id = newMessageId(createdAt);
    const record = { id, room, kind: "human", author: "ana", text: "from the past", status: "complete", createdAt };
    await env.CHAT_KV.put(commentKey(room, id), JSON.stringify(record));
    expect((await heal(id, room)).status).toBe(200);
    const newest = await post(room, "newest");
    expect((await list(room)).map((m) => m.id)).toEqual([fresh.id, id, newest.id]);
    await outboxDrained(room);

    await setLimits(room, { maxMessages: 0, retentionMs: DAY_MS });
    expect(await runDurableObjectAlarm(env.ROOM.getByName(room))).toBe(true);
    expect((await list(room)).map((m) => m.id)).toEqual([fresh.id, newest.id]);
  });

  it("deletes messages past the retention by alarm, with their claims, keeps one a bot is answering, and KV records carry the expiry", async () => {
    const room = uniqueRoom("retention");
    await setRoomMode(room, "do");
    await setLimits(room, { maxMessages: 0, retentionMs: DAY_MS });
    const [old, expiredLease, leased, fresh] = [
      await post(room, "old"),
      await post(room, "old, lease ran out"),
      await post(room, "old, being answered"),
      await post(room, "fresh"),
    ];
    expect((await claim(room, expiredLease.id, "bot-a")).status).toBe(200);
    expect((await claim(room, leased.id, "bot-b")).status).toBe(200);
    await outboxDrained(room);

    // Every record expires a day after its message was created.
    const records = (await env.CHAT_KV.list({ prefix: "comment:" })).keys.filter((k) =>
      [old, expiredLease, leased, fresh].some((m) => k.name === `comment:${room}:${m.id}`),
    );
    expect(records).toHaveLength(4);
    for (const record of records) {
      const message = [old, expiredLease, leased, fresh].find((m) => record.name === `comment:${room}:${m.id}`)!;
      expect(record.expiration).toBe(Math.ceil((message.createdAt + DAY_MS) / 1000));
    }

    // Three messages two days old; one lease long run out.
    await runInDurableObject(env.ROOM.getByName(room), (_: Room, state) => {
      const sql = state.storage.sql;
      for (const id of [old.id, expiredLease.id, leased.id])
        backdate(sql, "UPDATE messages SET created_at = created_at - ? WHERE id = ?", 2 * DAY_MS, id);
      sql.exec("UPDATE messages SET lease_until = ? WHERE id = ?", Date.now() - 1, expiredLease.id);
    });
    expect(await runDurableObjectAlarm(env.ROOM.getByName(room))).toBe(true);

    const kept = await list(room);
    expect(kept.map((m) => m.id).sort()).toEqual([leased.id, fresh.id].sort());
    const claims = await runInDurableObject(env.ROOM.getByName(room), (_: Room, state) =>
      state.storage.sql
        .exec<{ message_id: string }>("SELECT id AS message_id FROM messages WHERE bot_id IS NOT NULL")
        .toArray()
        .map((r) => r.message_id),
    );
    expect(claims).toEqual([leased.id]);
    // The next look is scheduled (the fresh message's expiry, or an hour on for the leased one).
    expect(
      await runInDurableObject(env.ROOM.getByName(room), (_: Room, state) => state.storage.getAlarm()),
    ).not.toBeNull();
    // The mirror no longer shows what was deleted.
    const mirrored = (await env.CHAT_KV.get<{ id: string }[]>(`cache:${room}`, "json")) ?? [];
    expect(mirrored.map((m) => m.id)).not.toContain(old.id);
  });

  it("deletes a long backlog a batch per alarm run", async () => {
    const room = uniqueRoom("retention-batch");
    await setRoomMode(room, "do");
    const total = RETENTION_BATCH + 20;
    await Promise.all(Array.from({ length: total }, (_, i) => post(room, `m ${i}`)));
    await outboxDrained(room);
    // Retention still off: run the room's alarms until none is left, so none runs beside ours below.
    for (let i = 0; i < 100 && (await runDurableObjectAlarm(env.ROOM.getByName(room))); i++);
    // Exactly one alarm run each time, with retention on.
    const oneRun = () =>
      runInDurableObject(env.ROOM.getByName(room), async (instance: Room, state) => {
        (instance as unknown as { state: { limits: RoomLimits } }).state.limits = {
          maxMessages: 0,
          retentionMs: DAY_MS,
        };
        await state.storage.deleteAlarm();
        backdate(state.storage.sql, "UPDATE messages SET created_at = MIN(created_at, ?)", Date.now() - 2 * DAY_MS);
        await instance.alarm();
        return { count: (await instance.inspect()).count, next: await state.storage.getAlarm() };
      });
    const first = await oneRun();
    expect(first.count).toBe(total - RETENTION_BATCH);
    // More remain: the next run is due within about a second.
    expect(first.next!).toBeLessThanOrEqual(Date.now() + 2000);
    // All but the latest change go (it keeps change positions from going back).
    expect((await oneRun()).count).toBe(1);
  });

  it("puts no expiry on records when retention is off, and never one under KV's 60 s minimum", () => {
    expect(recordExpiry(Date.now(), 0)).toEqual({});
    const now = Date.now();
    expect(recordExpiry(now - 10 * DAY_MS, DAY_MS, now).expiration).toBeGreaterThanOrEqual(Math.ceil(now / 1000) + 60);
  });
});

describe("room cap (ROOM_MAX_MESSAGES)", () => {
  it("refuses new human messages with 507 at the cap, over HTTP and the socket, and keeps every acknowledged one", async () => {
    const room = uniqueRoom("full");
    await setRoomMode(room, "do");
    await setLimits(room, { maxMessages: 3, retentionMs: 0 });
    const stored = [await post(room, "one"), await post(room, "two"), await post(room, "three")];

    const refused = await postJson("/api/comments", { room, text: "four" });
    expect(refused.status).toBe(507);
    expect(await refused.json()).toEqual({ error: expect.stringContaining("room is full") });

    const socket = await connect(room);
    await socket.next(frameOf("hello"));
    const id = newMessageId();
    socket.send({ type: "send", id, text: "four over the socket" });
    expect(await socket.answer(id)).toMatchObject({
      type: "nack",
      status: 507,
      error: expect.stringContaining("room is full"),
    });
    socket.ws.close(1000, "done");

    // A resend of an acknowledged id is still answered; a reply to an acknowledged message still lands.
    const again = await postJson("/api/comments", { room, text: "one", id: stored[0]!.id });
    expect(again.status).toBe(200);
    expect((await claim(room, stored[1]!.id, "bot")).status).toBe(200);
    const reply = await postJson(
      "/api/comments",
      { kind: "ai", room, replyTo: stored[1]!.id, text: "answer", botId: "bot" },
      BOT,
    );
    expect(reply.status).toBe(201);
    expect((await heal(stored[2]!.id, room)).status).toBe(200);

    const kept = await list(room);
    expect(kept.map((m) => m.id)).toEqual([...stored.map((m) => m.id), (await reply.json<{ id: string }>()).id]);
    // The alarm deletes nothing for the cap.
    await outboxDrained(room);
    await runDurableObjectAlarm(env.ROOM.getByName(room));
    expect(await list(room)).toHaveLength(4);
  });
});

describe("heals never bring back what retention or a purge deleted", () => {
  /** The ids the room's log holds, tombstones included, straight from storage. */
  const logged = (room: string) =>
    runInDurableObject(env.ROOM.getByName(room), (_: Room, state) =>
      state.storage.sql
        .exec<{ id: string }>("SELECT id FROM messages ORDER BY seq")
        .toArray()
        .map((r) => r.id),
    );

  it("refuses (410) a message older than the retention whose KV record outlived it", async () => {
    const room = uniqueRoom("heal-retention");
    await setRoomMode(room, "do");
    await setLimits(room, { maxMessages: 0, retentionMs: DAY_MS });
    const [old, fresh] = [await post(room, "old"), await post(room, "fresh")];
    await outboxDrained(room);
    // Retention was lowered: the message is past it, the alarm deleted it, its record (written
    // under the longer retention) is still in KV.
    await runInDurableObject(env.ROOM.getByName(room), (_: Room, state) => {
      backdate(state.storage.sql, "UPDATE messages SET created_at = created_at - ? WHERE id = ?", 2 * DAY_MS, old.id);
    });
    expect(await runDurableObjectAlarm(env.ROOM.getByName(room))).toBe(true);
    expect(await logged(room)).toEqual([fresh.id]);
    const record = await env.CHAT_KV.get<Message>(commentKey(room, old.id), "json");
    await env.CHAT_KV.put(
      commentKey(room, old.id),
      JSON.stringify({ ...record!, createdAt: old.createdAt - 2 * DAY_MS }),
    );

    const res = await heal(old.id, room);
    expect(res.status).toBe(410);
    expect((await res.json<{ error: string }>()).error).toBe(PAST_RETENTION_ERROR);
    expect(await logged(room)).toEqual([fresh.id]);
    expect((await list(room)).map((m) => m.id)).toEqual([fresh.id]);
    // A message inside the retention still heals (answered as present).
    expect((await heal(fresh.id, room)).status).toBe(200);
  });

  it("refuses (410) a message an operator purged by time", async () => {
    const room = uniqueRoom("heal-purged");
    await setRoomMode(room, "do");
    const [old, newer] = [await post(room, "old"), await post(room, "newer")];
    await outboxDrained(room);
    const purged = await call(`/api/admin/rooms/${room}/purge`, {
      method: "POST",
      headers: { ...ADMIN, "content-type": "application/json" },
      body: JSON.stringify({ before: newer.createdAt }),
    });
    expect(await purged.json()).toEqual({ removed: 1, count: 1 });
    expect(await env.CHAT_KV.get(commentKey(room, old.id))).not.toBeNull();

    const res = await heal(old.id, room);
    expect(res.status).toBe(410);
    expect((await res.json<{ error: string }>()).error).toBe(PAST_RETENTION_ERROR);
    expect(await logged(room)).toEqual([newer.id]);
  });
});
