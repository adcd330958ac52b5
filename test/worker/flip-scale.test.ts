// A flip of the default from do to kv with thousands of rooms in do mode: bounded
// batches per request (202 + the same PUT again), the flag published only once every
// leaving room is flushed, and nothing a room acknowledged missing from kv afterwards.
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { registryFor, type RoomRegistry } from "../../src/control/registry";
import type { FlipProgress } from "../../src/shared/api";
import { FLIP_ROOMS_PER_PUT } from "../../src/shared/flags";
import { cacheKey, commentKey } from "../../src/shared/keys";
import type { Message } from "../../src/shared/message";
import { getFlags, list, post, registeredRooms, setFlags, uniqueRoom } from "./helpers";

const ROOMS = 5_000;

describe("a flip of 5,000 do rooms", () => {
  it("flushes them in bounded, resumable steps and publishes the flag last", async () => {
    expect((await setFlags({ defaultMode: "do", doPercent: 0, rooms: {} })).status).toBe(200);
    const live = [uniqueRoom("scale-a"), uniqueRoom("scale-b")];
    const posted = await Promise.all(live.map((room) => post(room, `kept in ${room}`)));
    // The rest are rooms their registry shards list as in do mode (their objects hold nothing yet).
    const listed = new Map<string, string[]>();
    for (let i = 0; i < ROOMS - live.length; i++) {
      const shard = registryFor(env, `scale-${i}`).id.name!;
      listed.set(shard, [...(listed.get(shard) ?? []), `scale-${i}`]);
    }
    await Promise.all(
      [...listed.values()].map((rooms) =>
        runInDurableObject(registryFor(env, rooms[0]!), (_: RoomRegistry, state) => {
          for (const room of rooms) state.storage.sql.exec(`INSERT INTO do_rooms (name, since) VALUES (?, 0)`, room);
        }),
      ),
    );
    const versionBefore = (await getFlags()).version;

    const statuses: number[] = [];
    const remaining: number[] = [];
    let flushed = 0;
    for (let step = 0; step < 20; step++) {
      const res = await setFlags({ defaultMode: "kv", doPercent: 0, rooms: {} });
      statuses.push(res.status);
      const progress = await res.json<FlipProgress>();
      flushed += progress.flushed.length;
      remaining.push(progress.remaining);
      if (res.status !== 202) break;
      expect((await getFlags()).version).toBe(versionBefore); // not published while rooms remain
    }
    expect(statuses).toEqual([...Array(Math.ceil(ROOMS / FLIP_ROOMS_PER_PUT) - 1).fill(202), 200]);
    expect(flushed).toBe(ROOMS);
    // The progress the operator page shows: what each step left to do.
    expect(remaining).toEqual(statuses.map((_, i) => Math.max(0, ROOMS - (i + 1) * FLIP_ROOMS_PER_PUT)));
    const after = await getFlags();
    expect(after.defaultMode).toBe("kv");
    expect(after.version).toBeGreaterThan(versionBefore);
    expect(await registeredRooms()).toEqual([]);
    for (const [i, room] of live.entries()) expect((await list(room)).map((m) => m.id)).toContain(posted[i]!.id);
  }, 120_000);
});

describe("a flip of 200 do rooms that hold messages", () => {
  it("leaves every room's records and list in KV, for the kv path to read", async () => {
    const REAL_ROOMS = 200;
    expect((await setFlags({ defaultMode: "do", doPercent: 0, rooms: {} })).status).toBe(200);
    const rooms = Array.from({ length: REAL_ROOMS }, (_, i) => uniqueRoom(`real-${i}`));
    const posted = new Map<string, Message[]>();
    for (let i = 0; i < rooms.length; i += 20) {
      await Promise.all(
        rooms.slice(i, i + 20).map(async (room) => {
          posted.set(room, [await post(room, `first in ${room}`), await post(room, `second in ${room}`)]);
        }),
      );
    }
    expect(await registeredRooms()).toEqual(expect.arrayContaining(rooms));

    const res = await setFlags({ defaultMode: "kv", doPercent: 0, rooms: {} });
    expect(res.status).toBe(200);
    expect((await res.json<FlipProgress>()).flushed).toHaveLength(REAL_ROOMS);
    for (const room of rooms) {
      const messages = posted.get(room)!;
      const cached = (await env.CHAT_KV.get<Message[]>(cacheKey(room), "json")) ?? [];
      expect(
        cached.map((m) => m.id),
        room,
      ).toEqual(messages.map((m) => m.id));
      const records = await env.CHAT_KV.get<Message>(
        messages.map((m) => commentKey(room, m.id)),
        "json",
      );
      expect(
        [...records.values()].map((r) => r?.room),
        room,
      ).toEqual([room, room]);
      // The kv path now serves the room from that list.
      expect(
        (await list(room)).map((m) => m.text),
        room,
      ).toEqual([`first in ${room}`, `second in ${room}`]);
    }
  }, 120_000);
});
