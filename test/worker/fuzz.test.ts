// Fuzz: 1,000 random requests — bodies, query strings, path
// segments, headers and tokens drawn from a seeded PRNG, biased toward the fields the
// API knows — against every route and method. Every answer is 2xx or 4xx (never 5xx)
// and JSON; every 4xx leaves the same state fingerprint as before it. A failure names
// the seed: FUZZ_SEED=<seed> npx vitest run --project worker test/worker/fuzz.test.ts
import { env, exports } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import type { Room } from "../../src/room/room";
import { beforeAll, describe, expect, it } from "vitest";
import { newMessageId } from "../../src/shared/message";
import { ADMIN, BOT, post, registeredRooms, setRoomMode, uniqueRoom } from "./helpers";
import { settled } from "./probes";

const REQUESTS = 1000;
/** A fixed default, so every run sends the same requests; FUZZ_SEED picks another sequence. */
const DEFAULT_SEED = 20261203;
const SEED = Number((env as unknown as { FUZZ_SEED?: string }).FUZZ_SEED) || DEFAULT_SEED;

/** mulberry32: small, fast, and the same sequence for the same seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = prng(SEED);
const int = (n: number) => Math.floor(random() * n);
const chance = (p: number) => random() < p;
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;

// The rooms the fuzz may write to (others it names are invalid or never get past validation often).
const rooms = [uniqueRoom("fuzz-do"), uniqueRoom("fuzz-kv"), uniqueRoom("fuzz-flip")];
/** Ids of messages that exist, so claims, heals and replies sometimes reach a message. */
const knownIds: string[] = [];

const PIECES = [
  "",
  " ",
  "hi",
  "hello world",
  "é",
  "李",
  "😀",
  "👩\u200d💻",
  "\u202e",
  "\u2066",
  "\u200b",
  "\ufeff",
  "\u0000",
  "\u0007",
  "\u001b[31m",
  "\u0085",
  "\r\n",
  "\t",
  "\ud800",
  "__proto__",
  "constructor",
  "toString",
  "<script>alert(1)</script>",
  "'; DROP TABLE messages; --",
  "%00",
  "../..",
  "null",
  "{}",
  "[]",
  '"',
  "\\",
];
const OVERSIZE = [41, 64, 65, 100, 101, 500, 501, 1024, 1025, 4000, 4001, 16_384];

function fuzzString(): string {
  if (chance(0.08)) return pick(["a", "x", "\u200b", "é"]).repeat(pick(OVERSIZE));
  let s = "";
  for (let i = int(4); i >= 0; i--) s += pick(PIECES);
  return s;
}

function fuzzRoom(): unknown {
  if (chance(0.6)) return pick(rooms);
  if (chance(0.5))
    return pick([
      "__proto__",
      "constructor",
      "hasOwnProperty",
      "toString",
      "A",
      "",
      "-x",
      "a".repeat(64),
      "a".repeat(65),
      "lobby",
    ]);
  return fuzzValue(1);
}

function fuzzId(): unknown {
  if (knownIds.length && chance(0.4)) return pick(knownIds);
  if (chance(0.4)) return newMessageId();
  return pick([
    "",
    "x",
    "123",
    `${Date.now()}-abc`,
    `${Date.now()}-${"a".repeat(17)}`,
    `${Date.now()}-ABCDEF1`,
    "__proto__",
    1761938419272,
    null,
  ]);
}

function fuzzNumber(): number {
  return pick([0, -1, 1, 1.5, 50, 100, 101, 200, 201, 1000, 1001, 2 ** 53, -(2 ** 31), 1e308, Number.MIN_VALUE]);
}

function fuzzValue(depth: number): unknown {
  switch (int(depth > 2 ? 4 : 6)) {
    case 0:
      return fuzzString();
    case 1:
      return fuzzNumber();
    case 2:
      return pick([true, false, null]);
    case 3:
      return pick(["kv", "do", "human", "ai", "send", "ping"]);
    case 4:
      return Array.from({ length: int(4) }, () => fuzzValue(depth + 1));
    default:
      return fuzzObject(depth + 1);
  }
}

const FIELDS: Record<string, () => unknown> = {
  room: fuzzRoom,
  text: fuzzString,
  author: fuzzString,
  id: fuzzId,
  kind: () => pick(["human", "ai", "system", 1]),
  replyTo: fuzzId,
  botId: () => (chance(0.7) ? "fuzz-bot" : fuzzString()),
  messageId: fuzzId,
  reason: fuzzString,
  defaultMode: () => pick(["kv", "do", "redis", 0]),
  doPercent: fuzzNumber,
  rooms: () => (chance(0.5) ? { [String(pick(rooms))]: pick(["kv", "do"]) } : fuzzValue(2)),
  type: () => pick(["send", "ping"]),
  ["__proto__"]: () => ({ kind: "ai" }),
  constructor: () => fuzzValue(2),
  status: () => "complete",
  seq: fuzzNumber,
  offset: () => (chance(0.5) ? int(20) : fuzzNumber()),
  delta: fuzzString,
};

function fuzzObject(depth = 0, fields?: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const names = Object.keys(FIELDS);
  for (let i = int(6); i >= 0; i--) {
    const name = fields && chance(0.85) ? pick(fields) : pick(names);
    // Own properties even for __proto__, as JSON.parse makes them.
    Object.defineProperty(out, name, {
      value: chance(0.8) || depth > 1 ? FIELDS[name]!() : fuzzValue(depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function fuzzBody(fields?: string[]): string | undefined {
  const roll = random();
  if (roll < 0.55) return JSON.stringify(fuzzObject(0, fields));
  if (roll < 0.65) return JSON.stringify(fuzzValue(1));
  if (roll < 0.75) return JSON.stringify(fuzzObject()).slice(0, int(40));
  if (roll < 0.8) return fuzzString();
  if (roll < 0.85) return "";
  return undefined;
}

/** A valid body with none, one or two of its fields changed, dropped or added. */
function nearlyValid(route: Route): string {
  const body = route.valid!();
  for (let i = int(3); i > 0; i--) {
    const name = pick(route.fields!);
    if (chance(0.2)) delete body[name];
    else body[name] = FIELDS[name]!();
  }
  return JSON.stringify(body);
}

const QUERY_KEYS = ["room", "limit", "since", "cursor", "id", "__proto__", "constructor", "x"];

function fuzzQuery(): string {
  const parts: string[] = [];
  for (let i = int(4); i > 0; i--) {
    const key = pick(QUERY_KEYS);
    const value = key === "room" ? fuzzRoom() : chance(0.5) ? fuzzNumber() : fuzzString();
    const text = typeof value === "string" ? value : (JSON.stringify(value) ?? "");
    parts.push(`${key}=${chance(0.9) ? encode(text) : pick(["%", "%zz", "%00", "a&b", "=", "%E2%80%AE"])}`);
  }
  return parts.length ? `?${parts.join("&")}` : "";
}

/** Percent-encoded; a lone surrogate (which no URL can carry) becomes U+FFFD, as a browser would send it. */
const encode = (text: string) =>
  encodeURIComponent(text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd"));

function segment(value: unknown): string {
  return encode(typeof value === "string" ? value : String(value)) || "x";
}

/** `valid`: a body the route takes, which the fuzz then changes a little (so it gets past validation often). */
type Route = {
  path: () => string;
  methods: string[];
  fields?: string[];
  valid?: () => Record<string, unknown>;
  token?: string;
};

/** Every route with its methods and the body fields it reads: most requests aim at what a route takes. */
const ROUTES: Route[] = [
  { path: () => "/api/health", methods: ["GET"] },
  {
    path: () => "/api/comments",
    methods: ["GET", "POST"],
    fields: ["room", "text", "author", "id", "kind", "replyTo", "botId"],
    valid: () => ({ room: pick(rooms), text: "hi" }),
  },
  { path: () => `/api/comments/${segment(fuzzId())}`, methods: ["GET"] },
  { path: () => "/api/rooms", methods: ["GET"] },
  { path: () => `/api/rooms/${segment(fuzzRoom())}/ws`, methods: ["GET"] },
  {
    path: () => "/api/admin/add-to-cache",
    methods: ["POST"],
    fields: ["messageId"],
    valid: () => ({ messageId: pick(knownIds) }),
  },
  {
    path: () => "/api/admin/flags",
    methods: ["GET", "PUT"],
    fields: ["defaultMode", "doPercent", "rooms"],
    valid: () => ({ defaultMode: pick(["kv", "do"]), doPercent: int(101), rooms: {} }),
    token: ADMIN.authorization,
  },
  { path: () => `/api/admin/rooms/${segment(fuzzRoom())}`, methods: ["GET"], token: ADMIN.authorization },
  { path: () => "/api/admin/stats", methods: ["GET"], token: ADMIN.authorization },
  { path: () => "/api/bot/pending", methods: ["GET"], token: BOT.authorization },
  {
    path: () => "/api/bot/claim",
    methods: ["POST"],
    fields: ["messageId", "botId", "room"],
    valid: () => ({ messageId: pick(knownIds), botId: "fuzz-bot" }),
    token: BOT.authorization,
  },
  {
    path: () => "/api/bot/release",
    methods: ["POST"],
    fields: ["messageId", "botId", "room"],
    valid: () => ({ messageId: pick(knownIds), botId: "fuzz-bot" }),
    token: BOT.authorization,
  },
  {
    path: () => "/api/bot/fail",
    methods: ["POST"],
    fields: ["messageId", "botId", "room", "reason"],
    valid: () => ({ messageId: pick(knownIds), botId: "fuzz-bot", reason: "fuzz" }),
    token: BOT.authorization,
  },
  {
    path: () => "/api/bot/stream",
    methods: ["POST"],
    fields: ["room", "id", "replyTo", "botId", "author", "offset", "delta"],
    valid: () => ({
      room: pick(rooms),
      id: newMessageId(),
      replyTo: pick(knownIds),
      botId: "fuzz-bot",
      author: "bot",
      offset: 0,
      delta: "hi",
    }),
    token: BOT.authorization,
  },
  { path: () => `/api/${segment(fuzzString())}`, methods: ["GET", "POST"] },
];
const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];

function fuzzRequest(): { method: string; path: string; headers: Record<string, string>; body?: string } {
  const route = pick(ROUTES);
  const method = chance(0.8) ? pick(route.methods) : pick(METHODS);
  const base = route.path();
  const path = base + fuzzQuery();
  const headers: Record<string, string> = {};
  const type = chance(0.75)
    ? "application/json"
    : pick([
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
      ]);
  if (type) headers["content-type"] = type;
  const auth =
    route.token && chance(0.6)
      ? route.token
      : pick(["", "", BOT.authorization, ADMIN.authorization, "Bearer wrong", `Basic ${env.BOT_TOKEN}`]);
  if (auth) headers.authorization = auth;
  if (chance(0.3))
    headers["cf-connecting-ip"] = pick(["203.0.113.9", "203.0.113.10", "2001:db8:f::1", "not-an-ip", ""]);
  if (chance(0.15))
    headers.origin = pick(["https://evil.example", "http://chat.test", "https://friend.example", "null"]);
  if (base.endsWith("/ws") ? chance(0.7) : chance(0.1))
    headers.upgrade = pick(["websocket", "websocket", "WebSocket", "h2c"]);
  const body =
    method === "GET" || method === "HEAD"
      ? undefined
      : route.valid && chance(0.4)
        ? nearlyValid(route)
        : fuzzBody(route.fields);
  return { method, path, headers, ...(body !== undefined ? { body } : {}) };
}

/**
 * What a refused request could have changed: every KV key with its value and expiry, the
 * registry's do-room list, and each fuzz room's storage row by row: every message's status,
 * position, text and deletion, every claim, every owed KV write, the streams and the bookkeeping.
 */
async function fingerprint(): Promise<string> {
  const keys = await Promise.all(
    (await env.CHAT_KV.list()).keys.map(
      async (k) => `${k.name}@${k.expiration ?? ""}=${await env.CHAT_KV.get(k.name)}`,
    ),
  );
  const doRooms = await registeredRooms();
  const logs = await Promise.all(
    rooms.map((room) =>
      runInDurableObject(env.ROOM.getByName(room), (_: Room, state) => {
        const tables = new Set(
          state.storage.sql
            .exec<{ name: string }>("SELECT name FROM sqlite_master")
            .toArray()
            .map((t) => t.name),
        );
        // A room that has never been written has no tables (and must still have none after a 4xx).
        const rows = (table: string) =>
          tables.has(table) ? state.storage.sql.exec(`SELECT * FROM ${table} ORDER BY 1`).toArray() : null;
        return {
          messages: rows("messages"),
          marks: rows("retention_marks"),
          outbox: rows("outbox"),
          streams: rows("streams"),
          // The sweeps after a flip run on their own clock: not something a request changed.
          meta: rows("meta")?.filter((row) => row.key !== "sweepsDue"),
        };
      }),
    ),
  );
  return JSON.stringify({ keys, doRooms, logs });
}

beforeAll(async () => {
  await setRoomMode(rooms[0]!, "do");
  await setRoomMode(rooms[1]!, "kv");
  for (const room of rooms) knownIds.push((await post(room, "fuzz seed")).id);
  for (const room of rooms) await settled(room);
});

describe("fuzz", () => {
  it(`${REQUESTS} random requests: only 2xx/4xx, and a 4xx changes nothing`, async () => {
    let before = await fingerprint();
    const statuses: Record<number, number> = {};
    for (let i = 0; i < REQUESTS; i++) {
      const req = fuzzRequest();
      const where = `seed ${SEED}, request #${i}: ${JSON.stringify(req).slice(0, 600)}`;
      const res = await exports.default.fetch(
        new Request(`http://chat.test${req.path}`, { method: req.method, headers: req.headers, body: req.body }),
      );
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      expect(res.status, where).toBeLessThan(500);
      let answered: unknown = null;
      if (res.webSocket) {
        res.webSocket.accept();
        res.webSocket.close(1000, "fuzz");
      } else if (req.method !== "HEAD") {
        const text = await res.text();
        expect(() => (answered = JSON.parse(text)), `${where}: answered ${text.slice(0, 200)}`).not.toThrow();
      }
      if (res.status >= 400) {
        expect(await fingerprint(), where).toBe(before);
        continue;
      }
      // A 2xx may write (now or through the room's outbox and mirror): settle, then take the new state as the reference.
      // Every room with messages is read too: a flag change applies to a room at its next call, which
      // must not be a later refused request's.
      const id = (answered as { id?: unknown } | null)?.id;
      if (typeof id === "string") knownIds.push(id);
      const markers = (await env.CHAT_KV.list({ prefix: "room:" })).keys.map((k) => k.name.slice("room:".length));
      for (const room of new Set([...rooms, ...markers])) await settled(room);
      before = await fingerprint();
    }
    console.log(JSON.stringify({ fuzz: { seed: SEED, requests: REQUESTS, statuses } }));
    // The fuzz reaches past validation: some requests succeed and many are refused.
    expect(
      Object.keys(statuses).some((s) => Number(s) < 300),
      `seed ${SEED}`,
    ).toBe(true);
    expect(Object.keys(statuses).filter((s) => Number(s) >= 400).length, `seed ${SEED}`).toBeGreaterThanOrEqual(5);
  }, 300_000); // a thousand requests, each with a row-by-row fingerprint: minutes on a busy machine
});
