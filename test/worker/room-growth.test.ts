// Bounded growth of rooms: a read or a socket of a never-used room
// writes nothing anywhere (no tables, no KV keys, no entry in the registry's do
// list); the first message creates the room, counted per client key (ROOM_LIMITER);
// GET /api/rooms pages with a cursor; the stats count rooms without listing markers.
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { RoomsResponse, StatsResponse } from "../../src/shared/api";
import { newMessageId, type Message } from "../../src/shared/message";
import {
  ADMIN,
  BOT,
  call,
  connect,
  frameOf,
  list,
  listedInRegistry,
  post,
  postJson,
  setRoomMode,
  uniqueRoom,
} from "./helpers";
import { tables } from "./probes";

async function kvKeysOf(room: string): Promise<string[]> {
  const [markers, caches] = await Promise.all([
    env.CHAT_KV.list({ prefix: `room:${room}` }),
    env.CHAT_KV.list({ prefix: `cache:${room}` }),
  ]);
  return [...markers.keys, ...caches.keys].map((k) => k.name);
}

describe("a never-used room", () => {
  for (const mode of ["do", "kv"] as const) {
    it(`answers reads and a socket empty and writes nothing (${mode} mode)`, async () => {
      const room = uniqueRoom(`untouched-${mode}`);
      await setRoomMode(room, mode);
      const listed = await call(`/api/comments?room=${room}`);
      expect(listed.status).toBe(200);
      expect(await listed.json()).toMatchObject({ comments: [], mode });
      expect((await call(`/api/comments?room=${room}&since=0`)).status).toBe(200);
      expect((await call(`/api/comments/${newMessageId()}?room=${room}`)).status).toBe(404);
      const pending = await call(`/api/bot/pending?room=${room}`, { headers: BOT });
      expect(await pending.json()).toMatchObject({ pending: [] });
      expect((await postJson("/api/bot/claim", { messageId: newMessageId(), botId: "b", room }, BOT)).status).toBe(404);
      const socket = await connect(room);
      expect(await socket.next(frameOf("hello"))).toMatchObject({ room, lastSeq: 0, mode });
      socket.ws.close(1000, "done");
      expect(await env.ROOM.getByName(room).inspect()).toMatchObject({ count: 0, lastSeq: 0, outbox: { pending: 0 } });
      expect(await runDurableObjectAlarm(env.ROOM.getByName(room))).toBe(false);

      expect(await tables(room)).toEqual([]);
      expect(await kvKeysOf(room)).toEqual([]);
      expect(await listedInRegistry(room)).toBe(false);
    });
  }

  it("gets its tables, its marker and its place in the registry with its first message (HTTP)", async () => {
    const room = uniqueRoom("first-http");
    await setRoomMode(room, "do");
    await list(room);
    const first = await post(room, "hello");
    expect(await tables(room)).toEqual(
      expect.arrayContaining(["_migrations", "messages", "retention_marks", "outbox", "meta"]),
    );
    expect(await listedInRegistry(room)).toBe(true);
    expect((await list(room)).map((m) => m.id)).toEqual([first.id]);
    const deadline = Date.now() + 5000;
    while (!(await env.CHAT_KV.get(`room:${room}`)) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect(await env.CHAT_KV.get(`room:${room}`)).not.toBeNull();
  });

  it("takes a socket send as its first message after a hello that wrote nothing", async () => {
    const room = uniqueRoom("first-socket");
    await setRoomMode(room, "do");
    const socket = await connect(room);
    await socket.next(frameOf("hello"));
    expect(await tables(room)).toEqual([]);
    const id = newMessageId();
    socket.send({ type: "send", id, text: "first over the socket" });
    expect(await socket.answer(id)).toMatchObject({ type: "ack", created: true });
    expect(await listedInRegistry(room)).toBe(true);
    expect((await list(room)).map((m) => m.id)).toEqual([id]);
    socket.ws.close(1000, "done");
  });

  it("merges what the kv path left in cache:<room> on its first do read (that room had messages)", async () => {
    const room = uniqueRoom("kv-history");
    await setRoomMode(room, "kv");
    const old = await post(room, "from the kv days");
    await setRoomMode(room, "do");
    expect((await list(room)).map((m) => m.id)).toEqual([old.id]);
    expect(await tables(room)).toContain("messages");
    expect(await listedInRegistry(room)).toBe(true);
  });
});

describe("GET /api/rooms", () => {
  it("pages with limit and cursor, every room once, each page within the limit", async () => {
    const prefix = uniqueRoom("paged");
    const names = Array.from({ length: 25 }, (_, i) => `${prefix}-${String(i).padStart(2, "0")}`);
    await Promise.all(names.map((name) => env.CHAT_KV.put(`room:${name}`, "{}")));
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const res = await call(`/api/rooms?limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expect(res.status).toBe(200);
      const body = await res.json<RoomsResponse>();
      expect(body.rooms.length).toBeLessThanOrEqual(10);
      seen.push(...body.rooms.map((r) => r.name));
      cursor = body.cursor;
      pages++;
    } while (cursor && pages < 100);
    expect(cursor).toBeUndefined();
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((name) => name.startsWith(prefix))).toEqual(names);
  });

  it("lists at most 100 rooms without a limit, and refuses a bad limit or cursor with 400", async () => {
    const prefix = uniqueRoom("many");
    await Promise.all(Array.from({ length: 120 }, (_, i) => env.CHAT_KV.put(`room:${prefix}-${i}`, "{}")));
    const body = await (await call("/api/rooms")).json<RoomsResponse>();
    expect(body.rooms).toHaveLength(100);
    expect(body.cursor).toEqual(expect.any(String));
    for (const query of ["limit=0", "limit=1001", "limit=abc", "limit=2.5", "cursor="]) {
      const res = await call(`/api/rooms?${query}`);
      expect(res.status, query).toBe(400);
      expect(await res.json(), query).toEqual({ error: expect.stringMatching(/limit|cursor/) });
    }
    expect((await call(`/api/rooms?cursor=${"x".repeat(1025)}`)).status).toBe(400);
  });
});

describe("GET /api/admin/stats", () => {
  it("counts do rooms from the registry shards' lists and does not count kv rooms (no marker listing)", async () => {
    const before = await (await call("/api/admin/stats", { headers: ADMIN })).json<StatsResponse>();
    expect(before.modes.kv.rooms).toBeNull();
    const room = uniqueRoom("counted");
    await setRoomMode(room, "do");
    await list(room);
    const unchanged = await (await call("/api/admin/stats", { headers: ADMIN })).json<StatsResponse>();
    expect(unchanged.modes.do.rooms).toBe(before.modes.do.rooms);
    await post(room, "now it counts");
    const after = await (await call("/api/admin/stats", { headers: ADMIN })).json<StatsResponse>();
    expect(after.modes.do.rooms).toBe(before.modes.do.rooms! + 1);
  });
});

/** ROOM_LIMITER in wrangler.toml: 10 new rooms per 60 s per client key. */
const ROOM_LIMIT = 10;

describe("room creation limit", () => {
  it("answers 429 with Retry-After past 10 new rooms a minute from one address, over HTTP and the socket, in both modes", async () => {
    // The limiter's windows are aligned to the wall clock: start early in one, so every creation below lands in it.
    const into = Date.now() % 60_000;
    if (into > 40_000) await new Promise((r) => setTimeout(r, 60_000 - into + 200));
    const ip = "198.51.100.70";
    const rooms = Array.from({ length: ROOM_LIMIT + 1 }, () => uniqueRoom("created"));
    for (const room of rooms.slice(0, ROOM_LIMIT)) {
      expect((await postJson("/api/comments", { room, text: "new room" }, { "cf-connecting-ip": ip })).status).toBe(
        201,
      );
    }
    const refused = await postJson(
      "/api/comments",
      { room: rooms[ROOM_LIMIT], text: "one room too many" },
      { "cf-connecting-ip": ip },
    );
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(await refused.json()).toEqual({ error: expect.stringContaining("too many new rooms") });
    expect(await list(rooms[ROOM_LIMIT]!)).toEqual([]);
    expect(await tables(rooms[ROOM_LIMIT]!)).toEqual([]);
    expect(await listedInRegistry(rooms[ROOM_LIMIT]!)).toBe(false);

    // Rooms that exist still take this address's messages; other addresses still create rooms.
    expect(
      (await postJson("/api/comments", { room: rooms[0], text: "existing room" }, { "cf-connecting-ip": ip })).status,
    ).toBe(201);
    expect(
      (
        await postJson(
          "/api/comments",
          { room: rooms[ROOM_LIMIT], text: "someone else" },
          { "cf-connecting-ip": "198.51.100.71" },
        )
      ).status,
    ).toBe(201);

    const socketRoom = uniqueRoom("created-socket");
    const socket = await connect(socketRoom, { "cf-connecting-ip": ip });
    await socket.next(frameOf("hello"));
    const id = newMessageId();
    socket.send({ type: "send", id, text: "new room over the socket" });
    expect(await socket.answer(id)).toMatchObject({
      type: "nack",
      status: 429,
      error: expect.stringContaining("too many new rooms"),
      retryAfter: expect.any(Number),
    });
    expect(await tables(socketRoom)).toEqual([]);
    socket.ws.close(1000, "done");

    const kvRoom = uniqueRoom("created-kv");
    await setRoomMode(kvRoom, "kv");
    const kvRefused = await postJson(
      "/api/comments",
      { room: kvRoom, text: "new kv room" },
      { "cf-connecting-ip": ip },
    );
    expect(kvRefused.status).toBe(429);
    expect(kvRefused.headers.get("retry-after")).not.toBeNull();
    expect(await env.CHAT_KV.get(`room:${kvRoom}`)).toBeNull();

    // The operator's token is not limited; a bot token posting a human message is, like a person.
    const botRoom = uniqueRoom("created-bot");
    expect(
      (await postJson("/api/comments", { room: botRoom, text: "bot" }, { ...BOT, "cf-connecting-ip": ip })).status,
    ).toBe(429);
    expect(
      (await postJson("/api/comments", { room: botRoom, text: "operator" }, { ...ADMIN, "cf-connecting-ip": ip }))
        .status,
    ).toBe(201);
    const stored: Message[] = await list(botRoom);
    expect(stored.map((m) => m.text)).toEqual(["operator"]);
  });

  it("counts a burst of first sends into one new room as one creation", async () => {
    const into = Date.now() % 60_000;
    if (into > 40_000) await new Promise((r) => setTimeout(r, 60_000 - into + 200));
    const ip = "198.51.100.72";
    const room = uniqueRoom("burst");
    // They interleave in the room at the limiter's await: before the fix each counted as a creation.
    // 8 + 10 posts stay under POST_LIMITER's 20 per 10 s, so every 429 below is the room limit.
    const burst = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        postJson("/api/comments", { room, text: `burst ${i}` }, { "cf-connecting-ip": ip }),
      ),
    );
    expect(burst.map((r) => r.status)).toEqual(Array(8).fill(201));
    expect(await list(room)).toHaveLength(8);
    for (let i = 1; i < ROOM_LIMIT; i++) {
      expect([
        i,
        (
          await postJson(
            "/api/comments",
            { room: uniqueRoom("after-burst"), text: "new room" },
            { "cf-connecting-ip": ip },
          )
        ).status,
      ]).toEqual([i, 201]);
    }
    const refused = await postJson(
      "/api/comments",
      { room: uniqueRoom("after-burst"), text: "one too many" },
      { "cf-connecting-ip": ip },
    );
    expect([refused.status, await refused.json()]).toEqual([
      429,
      { error: expect.stringContaining("too many new rooms") },
    ]);
  });
});
