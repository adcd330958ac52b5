// Cheap watching: GET /api/bot/rooms lists, from one KV list of room markers, the rooms that
// may have work for a bot (a do room whose marker says it has open prompts, every kv room),
// so a bot serving every room makes one call per poll, not one per room. Markers expire a
// half retention after the room's last message could be swept, and an active room renews its
// own as the expiry nears; an idle room's marker is never renewed.
import { env } from "cloudflare:workers";
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Room } from "../../src/room/room";
import type { RoomLimits } from "../../src/limits/retention";
import type { BotRoomsResponse } from "../../src/shared/api";
import { roomKey } from "../../src/shared/keys";
import { newMessageId, type Message } from "../../src/shared/message";
import type { RoomMarker } from "../../src/shared/room-marker";
import { BOT, call, post, postJson, setRoomMode, uniqueRoom } from "./helpers";
import { outboxDrained } from "./probes";

const DAY_MS = 86_400_000;

async function watchList(): Promise<string[]> {
  const names: string[] = [];
  let cursor: string | undefined;
  do {
    const res = await call(`/api/bot/rooms?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, {
      headers: BOT,
    });
    expect(res.status).toBe(200);
    const body = await res.json<BotRoomsResponse>();
    expect(body.scanned).toBeGreaterThanOrEqual(body.rooms.length);
    names.push(...body.rooms.map((r) => r.name));
    cursor = body.cursor;
  } while (cursor);
  return names;
}

async function marker(room: string): Promise<{ metadata: RoomMarker | null; expiration?: number }> {
  const key = (await env.CHAT_KV.list<RoomMarker>({ prefix: roomKey(room) })).keys.find(
    (k) => k.name === roomKey(room),
  );
  expect(key, `marker of ${room}`).toBeDefined();
  return { metadata: key!.metadata ?? null, expiration: key!.expiration };
}

async function answer(room: string, human: Message): Promise<void> {
  expect((await postJson("/api/bot/claim", { room, messageId: human.id, botId: "watcher" }, BOT)).status).toBe(200);
  const reply = { room, kind: "ai", id: newMessageId(), replyTo: human.id, botId: "watcher", text: "done" };
  expect((await postJson("/api/comments", reply, BOT)).status).toBe(201);
}

/** The room's own note of the marker it last owed. */
function markerRow(room: string): Promise<{ work: boolean; until: number }> {
  return runInDurableObject(env.ROOM.getByName(room), (_: Room, state) =>
    JSON.parse(state.storage.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'marker'").one().value),
  );
}

async function setLimits(room: string, limits: RoomLimits): Promise<void> {
  await runInDurableObject(env.ROOM.getByName(room), (instance: Room) => {
    (instance as unknown as { state: { limits: RoomLimits } }).state.limits = limits;
  });
}

describe("GET /api/bot/rooms", () => {
  it("lists a do room while it has open prompts and drops it once they are answered; kv rooms always", async () => {
    const busy = uniqueRoom("watch-busy");
    const done = uniqueRoom("watch-done");
    const legacy = uniqueRoom("watch-kv");
    await setRoomMode(busy, "do");
    await setRoomMode(done, "do");
    await setRoomMode(legacy, "kv");
    await post(busy, "anyone there?");
    const answered = await post(done, "quick one");
    await post(legacy, "old path");
    await outboxDrained(busy);
    await outboxDrained(done);
    expect(await watchList()).toEqual(expect.arrayContaining([busy, done, legacy]));
    expect((await marker(done)).metadata).toMatchObject({ work: true });

    await answer(done, answered);
    await outboxDrained(done);
    expect((await marker(done)).metadata).toMatchObject({ work: false });
    const listed = await watchList();
    expect(listed).toEqual(expect.arrayContaining([busy, legacy]));
    expect(listed).not.toContain(done);
    // Still a room: the public list shows it.
    const rooms = await call("/api/rooms?limit=1000");
    expect((await rooms.json<{ rooms: { name: string }[] }>()).rooms.map((r) => r.name)).toContain(done);
  });

  it("is for bots: no token is 401, a bad page size 400", async () => {
    expect((await call("/api/bot/rooms")).status).toBe(401);
    expect((await call("/api/bot/rooms?limit=0", { headers: BOT })).status).toBe(400);
    expect((await call("/api/bot/rooms", { method: "POST", headers: BOT })).status).toBe(405);
  });
});

describe("room markers expire", () => {
  it("a marker expires half a retention after its room's last message could be swept; an active room renews it, an idle one never", async () => {
    const room = uniqueRoom("marker-expiry");
    await setRoomMode(room, "do");
    await setLimits(room, { maxMessages: 0, retentionMs: DAY_MS });
    const first = await post(room, "hello");
    await outboxDrained(room);
    const written = await marker(room);
    const expected = Math.ceil((first.createdAt + 1.5 * DAY_MS) / 1000);
    expect(written.expiration!).toBeGreaterThanOrEqual(expected);
    expect(written.expiration!).toBeLessThan(expected + 60);

    // Later changes within the period that leave prompts open write no marker (its expiry is still a retention
    // away). A change that closes the last prompt, or opens one, does rewrite it, with an expiry from that second.
    const noted = await markerRow(room);
    await post(room, "again");
    await answer(room, first);
    await outboxDrained(room);
    expect((await marker(room)).expiration).toBe(written.expiration);
    expect(await markerRow(room)).toEqual(noted);

    // The clock moves on: the marker was written long ago, its expiry within a retention period.
    const aged = Date.now() + DAY_MS / 2;
    await runInDurableObject(env.ROOM.getByName(room), (_: Room, state) => {
      const marker = JSON.stringify({ work: true, until: aged });
      state.storage.sql.exec("UPDATE meta SET value = ? WHERE key = 'marker'", marker);
    });
    // The room reads its bookkeeping again as it wakes, as after any restart.
    await evictDurableObject(env.ROOM.getByName(room));
    await setLimits(room, { maxMessages: 0, retentionMs: DAY_MS });
    // An idle room: the retention sweep runs, every message two days old goes, no marker is written.
    await runInDurableObject(env.ROOM.getByName(room), (_: Room, state) => {
      state.storage.sql.exec("UPDATE messages SET created_at = created_at - ?", 2 * DAY_MS);
    });
    expect(await runDurableObjectAlarm(env.ROOM.getByName(room))).toBe(true);
    await outboxDrained(room);
    expect((await marker(room)).expiration).toBe(written.expiration);
    expect(await markerRow(room)).toEqual({ work: true, until: aged });

    // Active again: its next change renews the marker a retention and a half ahead.
    const later = await post(room, "back");
    await outboxDrained(room);
    const renewed = await marker(room);
    expect(renewed.expiration!).toBeGreaterThanOrEqual(Math.ceil((later.createdAt + 1.5 * DAY_MS) / 1000));
    expect((await markerRow(room)).until).toBeGreaterThanOrEqual(later.createdAt + 1.5 * DAY_MS);
    expect(renewed.metadata).toMatchObject({ work: true });
  });

  it("a kv room's marker expires too, and says nothing about work", async () => {
    const room = uniqueRoom("marker-kv");
    await setRoomMode(room, "kv");
    await post(room, "old path");
    const written = await marker(room);
    // The suite runs with retention off: such a marker never expires.
    expect(written.expiration).toBeUndefined();
    expect(written.metadata ?? {}).not.toHaveProperty("work");
  });
});
