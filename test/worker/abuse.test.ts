// The abuse table : each row is a request an attacker or a broken
// client might send — cross-site simple requests, oversized and endless bodies, foreign
// origins, floods, prototype-key names, invisible names, bad JSON, missing tokens — and
// the status and error it must get. Every row also proves it changed nothing: a
// fingerprint of KV, the flag and its audit, the room list, the registry's do
// rooms and the rooms' logs is the same after it as before. A second table sends junk
// frames over a room socket: each closes (or nacks) only its own socket.
import { env, exports } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Room } from "../../src/room/room";
import { PAST_RETENTION_ERROR, type RoomLimits } from "../../src/limits/retention";
import { commentKey } from "../../src/shared/keys";
import { RATE_LIMITS } from "../../src/shared/rate-limits";
import { TOO_MANY_SOCKETS_CLOSE } from "../../src/shared/frames";
import { newMessageId } from "../../src/shared/message";
import {
  ADMIN,
  BOT,
  call,
  connect,
  frameOf,
  list,
  post,
  postJson,
  registeredRooms,
  setRoomMode,
  uniqueRoom,
} from "./helpers";
import { endlessBody, settled, tables } from "./probes";

const doRoom = uniqueRoom("abuse-do");
const kvRoom = uniqueRoom("abuse-kv");
/** A do room whose log is at its cap (ROOM_MAX_MESSAGES 1 for this room). */
const fullRoom = uniqueRoom("abuse-full");
/** Never gets a message: the refused rows that name it must not create it. */
const freshRoom = uniqueRoom("abuse-fresh");
const seedId = newMessageId();
const validId = "1761938419272-abcdef1";

/** wrangler.toml: POST_LIMITER 20 per 10 s, ROOM_LIMITER 10 new rooms per 60 s. */
const POST_LIMIT = { limit: 20, periodS: 10 };
const ROOM_LIMIT = { limit: 10, periodS: 60 };

const j = (value: unknown) => JSON.stringify(value);
const comment = (extra: Record<string, unknown> = {}) => j({ room: doRoom, text: "hi", ...extra });
const claimBody = (extra: Record<string, unknown> = {}) =>
  j({ room: doRoom, messageId: seedId, botId: "bot-1", ...extra });
const streamBody = (extra: Record<string, unknown> = {}) =>
  j({ room: doRoom, id: validId, replyTo: seedId, botId: "bot-1", author: "bot", offset: 0, delta: "hi", ...extra });
/** A human message an operator deleted (its id answers 410 from then on). */
const deletedId = newMessageId();
const flagsBody = (extra: Record<string, unknown> = {}) => j({ defaultMode: "do", doPercent: 0, rooms: {}, ...extra });

/** A post body of exactly `bytes` bytes (its text is padding). */
function sized(bytes: number): string {
  const shell = j({ room: doRoom, text: "" });
  return j({ room: doRoom, text: "x".repeat(bytes - shell.length) });
}

/** A chunked body (no Content-Length) of `bytes` bytes that ends. */
function chunked(bytes: number): () => ReadableStream<Uint8Array> {
  return () => {
    let left = bytes;
    return new ReadableStream({
      pull(controller) {
        if (left <= 0) return controller.close();
        const n = Math.min(4096, left);
        left -= n;
        controller.enqueue(new TextEncoder().encode("x".repeat(n)));
      },
    });
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DAY_MS = 86_400_000;

/** A message of doRoom that retention already deleted, whose KV record outlived it (a lowered retention). */
const retainedId = `${Date.now() - 2 * DAY_MS}-retained1`;
async function retentionSwept(): Promise<void> {
  await runInDurableObject(env.ROOM.getByName(doRoom), (instance: Room) => {
    (instance as unknown as { state: { limits: RoomLimits } }).state.limits = { maxMessages: 0, retentionMs: DAY_MS };
  });
  const record = { id: retainedId, room: doRoom, kind: "human", author: "a", text: "old", status: "pending" };
  await env.CHAT_KV.put(commentKey(doRoom, retainedId), j({ ...record, createdAt: Date.now() - 2 * DAY_MS }));
}

/**
 * Spends one address's read budget (READ_LIMITER) on a never-written room: reads in batches
 * until the limiter refuses one with enough of its window left for the row's own request. Judged
 * by the answers, not by how fast this machine sends: a slow run simply spends into a new window.
 */
async function spendReads(ip: string): Promise<void> {
  const { limit, period } = RATE_LIMITS.READ_LIMITER;
  const batch = 50;
  const windowOf = (at: number) => Math.floor(at / (period * 1000));
  for (let sent = 0; sent < limit * 6; sent += batch) {
    const startedIn = windowOf(Date.now());
    const statuses = await Promise.all(
      Array.from({ length: batch }, async (_, i) => {
        const path = `/api/comments?room=abuse-reads&limit=1&n=${sent + i}`;
        return (await call(path, { headers: { "cf-connecting-ip": ip } })).status;
      }),
    );
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    const now = Date.now();
    const left = period * 1000 - (now % (period * 1000));
    if (!statuses.includes(429)) continue;
    // The refusal counts only if the whole batch fell in the window the row's own request will meet.
    if (windowOf(now) === startedIn && left > 2000) return;
    // Too little of this window is left: wait for the next one, rather than spend the reads' budget on it.
    if (left <= 2000) await new Promise((resolve) => setTimeout(resolve, left + 50));
  }
  throw new Error(`${limit * 6} reads from one address and the read limit never refused one`);
}

/** The limiters' windows are aligned to the wall clock: start a setup with at least `needMs` of its window left. */
async function earlyInWindow(periodS: number, needMs: number): Promise<void> {
  const left = periodS * 1000 - (Date.now() % (periodS * 1000));
  if (left < needMs) await sleep(left + 100);
}

/** Spends one address's post budget (in a room that exists) so its next post is over the limit. */
async function spendPosts(ip: (i: number) => string): Promise<void> {
  await earlyInWindow(POST_LIMIT.periodS, 4000);
  for (let i = 0; i < POST_LIMIT.limit; i++) {
    const res = await postJson("/api/comments", { room: doRoom, text: `spend ${i}` }, { "cf-connecting-ip": ip(i) });
    expect(res.status).toBe(201);
  }
  await settled(doRoom);
}

/** Spends one address's room-creation budget, so the next room it would create is refused. */
async function spendRooms(ip: string): Promise<void> {
  await earlyInWindow(ROOM_LIMIT.periodS, 8000);
  for (let i = 0; i < ROOM_LIMIT.limit; i++) {
    const room = uniqueRoom("abuse-spent");
    expect((await postJson("/api/comments", { room, text: "new room" }, { "cf-connecting-ip": ip })).status).toBe(201);
    await settled(room);
  }
}

/** Everything a refused request could have touched, in one comparable value. */
async function fingerprint() {
  const keys = (await env.CHAT_KV.list()).keys.map((k) => `${k.name}@${k.expiration ?? ""}`).sort();
  const caches = await Promise.all([doRoom, kvRoom, fullRoom].map((room) => env.CHAT_KV.get(`cache:${room}`)));
  const flags = await (await call("/api/admin/flags", { headers: ADMIN })).text();
  const rooms = await (await call("/api/rooms?limit=1000")).text();
  const doRooms = await registeredRooms();
  const logs = await Promise.all([doRoom, kvRoom, fullRoom].map(async (room) => j(await list(room))));
  const inspected = await Promise.all(
    [doRoom, fullRoom].map(async (room) => {
      const { count, lastSeq, outbox, streams } = await env.ROOM.getByName(room).inspect();
      return { count, lastSeq, pending: outbox.pending, streams: streams.live };
    }),
  );
  return { keys, caches, flags, rooms, doRooms, logs, inspected, freshTables: await tables(freshRoom) };
}

type Row = {
  name: string;
  method: string;
  path: string;
  /** null drops a header (e.g. no content-type at all) */
  headers?: Record<string, string | null>;
  /** a function: built per run (a stream is read once) */
  body?: string | (() => BodyInit);
  /** runs before the "before" fingerprint: what it changes is not the row's */
  setup?: () => Promise<void>;
  status: number;
  /** contained in the `{ error }` answered; absent: a 2xx answer that must change nothing all the same */
  error?: string;
  retryAfter?: { max: number };
};

const JSON_TYPE = { "content-type": "application/json" };
const upgrade = (extra: Record<string, string> = {}) => ({ upgrade: "websocket", ...extra });
const wrongToken = { authorization: "Bearer not-the-token" };

const rows: Row[] = [
  // Round two: names people may not take, reads without end, heals past retention, room caps, big bodies.
  {
    name: "a person posting as a bot",
    method: "POST",
    path: "/api/comments",
    body: comment({ author: "bot (llama3.2)" }),
    status: 400,
    error: "author: this name is reserved for bots and operators",
  },
  {
    name: "a person posting as admin, in capitals and spaces",
    method: "POST",
    path: "/api/comments",
    body: comment({ author: "  ADMIN " }),
    status: 400,
    error: "author: this name is reserved",
  },
  {
    name: "a person posting as the operator",
    method: "POST",
    path: "/api/comments",
    body: comment({ author: "operator" }),
    status: 400,
    error: "author: this name is reserved",
  },
  {
    name: "reads of never-written rooms past the per-client read limit",
    method: "GET",
    path: `/api/comments?room=${freshRoom}`,
    headers: { "cf-connecting-ip": "198.51.100.90" },
    setup: () => spendReads("198.51.100.90"),
    status: 429,
    error: "reading too fast",
    retryAfter: { max: 10 },
  },
  {
    name: "a socket upgrade past the per-client read limit",
    method: "GET",
    path: `/api/rooms/${freshRoom}/ws`,
    headers: upgrade({ "cf-connecting-ip": "198.51.100.91" }),
    setup: () => spendReads("198.51.100.91"),
    status: 429,
    error: "reading too fast",
    retryAfter: { max: 10 },
  },
  {
    name: "a heal of a message retention deleted (its record outlived it)",
    method: "POST",
    path: "/api/heal",
    body: j({ messageId: retainedId, room: doRoom }),
    setup: retentionSwept,
    status: 410,
    error: PAST_RETENTION_ERROR,
  },
  {
    name: "a heal naming only the id of a message whose record is per room",
    method: "POST",
    path: "/api/heal",
    body: j({ messageId: seedId }),
    status: 404,
    error: "records are kept per room: name it with room",
  },
  {
    name: "a heal of room A's id named as another room's",
    method: "POST",
    path: "/api/heal",
    body: j({ messageId: seedId, room: kvRoom }),
    status: 404,
    error: "message not found in this room",
  },
  {
    name: "a room cap without a token",
    method: "PUT",
    path: `/api/admin/rooms/${doRoom}/limits`,
    body: j({ maxMessages: 10 }),
    status: 401,
    error: "ADMIN_TOKEN",
  },
  {
    name: "a room cap with the bot token",
    method: "PUT",
    path: `/api/admin/rooms/${doRoom}/limits`,
    headers: BOT,
    body: j({ maxMessages: 10 }),
    status: 401,
    error: "ADMIN_TOKEN",
  },
  {
    name: "a room cap of zero",
    method: "PUT",
    path: `/api/admin/rooms/${doRoom}/limits`,
    headers: ADMIN,
    body: j({ maxMessages: 0 }),
    status: 400,
    error: "maxMessages must be at least 1",
  },
  {
    name: "a room cap past the most a room may hold",
    method: "PUT",
    path: `/api/admin/rooms/${doRoom}/limits`,
    headers: ADMIN,
    body: j({ maxMessages: 1e9 }),
    status: 400,
    error: "maxMessages must be at most 10000000",
  },
  {
    name: "a 10 MB chunked post",
    method: "POST",
    path: "/api/comments",
    body: chunked(10 * 1024 * 1024),
    status: 413,
    error: "body must be at most 16384 bytes",
  },
  // Item 2: JSON only (cross-site simple requests), bodies read through a 16 KB cap.
  {
    name: "cross-site text/plain post with a JSON body",
    method: "POST",
    path: "/api/comments",
    headers: { "content-type": "text/plain" },
    body: comment(),
    status: 415,
    error: "content-type must be application/json (got text/plain)",
  },
  {
    name: "text/plain with a charset",
    method: "POST",
    path: "/api/comments",
    headers: { "content-type": "text/plain;charset=UTF-8" },
    body: comment(),
    status: 415,
    error: "(got text/plain)",
  },
  {
    name: "cross-site form post",
    method: "POST",
    path: "/api/comments",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: `room=${doRoom}&text=hi`,
    status: 415,
    error: "(got application/x-www-form-urlencoded)",
  },
  {
    name: "multipart post",
    method: "POST",
    path: "/api/comments",
    headers: { "content-type": "multipart/form-data; boundary=x" },
    body: `--x\r\ncontent-disposition: form-data; name="text"\r\n\r\nhi\r\n--x--`,
    status: 415,
    error: "(got multipart/form-data)",
  },
  {
    name: "no content-type at all",
    method: "POST",
    path: "/api/comments",
    headers: { "content-type": null },
    body: () => new TextEncoder().encode(comment()),
    status: 415,
    error: "(got none)",
  },
  {
    name: "JSON-like type application/jsonp",
    method: "POST",
    path: "/api/comments",
    headers: { "content-type": "application/jsonp" },
    body: comment(),
    status: 415,
    error: "(got application/jsonp)",
  },
  {
    name: "JSON-like type +json",
    method: "POST",
    path: "/api/comments",
    headers: { "content-type": "application/merge-patch+json" },
    body: comment(),
    status: 415,
    error: "content-type must be application/json",
  },
  {
    name: "cross-site text/plain heal",
    method: "POST",
    path: "/api/admin/add-to-cache",
    headers: { "content-type": "text/plain" },
    body: j({ messageId: seedId }),
    status: 415,
    error: "(got text/plain)",
  },
  {
    name: "cross-site form heal",
    method: "POST",
    path: "/api/admin/add-to-cache",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: `messageId=${seedId}`,
    status: 415,
    error: "content-type must be application/json",
  },
  {
    name: "text/plain flag change",
    method: "PUT",
    path: "/api/admin/flags",
    headers: { ...ADMIN, "content-type": "text/plain" },
    body: flagsBody(),
    status: 415,
    error: "content-type must be application/json",
  },
  {
    name: "text/plain bot claim",
    method: "POST",
    path: "/api/bot/claim",
    headers: { ...BOT, "content-type": "text/plain" },
    body: claimBody(),
    status: 415,
    error: "content-type must be application/json",
  },
  {
    name: "form bot release",
    method: "POST",
    path: "/api/bot/release",
    headers: { ...BOT, "content-type": "application/x-www-form-urlencoded" },
    body: "messageId=x",
    status: 415,
    error: "content-type must be application/json",
  },
  {
    name: "multipart bot fail",
    method: "POST",
    path: "/api/bot/fail",
    headers: { ...BOT, "content-type": "multipart/form-data; boundary=x" },
    body: "--x--",
    status: 415,
    error: "content-type must be application/json",
  },
  {
    name: "body of exactly 16 KB is read (its text is then too long)",
    method: "POST",
    path: "/api/comments",
    body: sized(16_384),
    status: 400,
    error: "text: text must be at most 4000 characters",
  },
  {
    name: "body of 16 KB + 1 byte",
    method: "POST",
    path: "/api/comments",
    body: sized(16_385),
    status: 413,
    error: "body must be at most 16384 bytes",
  },
  {
    name: "body of 1 MB",
    method: "POST",
    path: "/api/comments",
    body: sized(1_048_576),
    status: 413,
    error: "body must be at most 16384 bytes",
  },
  {
    name: "chunked body (no Content-Length) of 16 KB + 1",
    method: "POST",
    path: "/api/comments",
    body: chunked(16_385),
    status: 413,
    error: "body must be at most 16384 bytes",
  },
  {
    name: "chunked body that never ends",
    method: "POST",
    path: "/api/comments",
    body: () => endlessBody(),
    status: 413,
    error: "body must be at most 16384 bytes",
  },
  {
    name: "heal with a body that never ends",
    method: "POST",
    path: "/api/admin/add-to-cache",
    body: () => endlessBody(),
    status: 413,
    error: "body must be at most 16384 bytes",
  },
  {
    name: "flag change over 16 KB",
    method: "PUT",
    path: "/api/admin/flags",
    headers: ADMIN,
    body: flagsBody({ pad: "x".repeat(16_384) }),
    status: 413,
    error: "body must be at most 16384 bytes",
  },

  // Item 3: sockets only from this site, ALLOWED_ORIGINS or clients without an Origin; cross-site JSON needs a preflight nobody answers.
  {
    name: "socket from another site",
    method: "GET",
    path: `/api/rooms/${doRoom}/ws`,
    headers: upgrade({ origin: "https://evil.example" }),
    status: 403,
    error: "origin https://evil.example may not open room sockets",
  },
  {
    name: "socket from an opaque origin (sandboxed frame, file:)",
    method: "GET",
    path: `/api/rooms/${doRoom}/ws`,
    headers: upgrade({ origin: "null" }),
    status: 403,
    error: "origin null may not open room sockets",
  },
  {
    name: "socket from a look-alike host",
    method: "GET",
    path: `/api/rooms/${doRoom}/ws`,
    headers: upgrade({ origin: "http://chat.test.evil.example" }),
    status: 403,
    error: "may not open room sockets",
  },
  {
    name: "socket from this host on another port",
    method: "GET",
    path: `/api/rooms/${doRoom}/ws`,
    headers: upgrade({ origin: "http://chat.test:8080" }),
    status: 403,
    error: "may not open room sockets",
  },
  {
    name: "socket from an allowed origin's subdomain",
    method: "GET",
    path: `/api/rooms/${doRoom}/ws`,
    headers: upgrade({ origin: "https://sub.friend.example" }),
    status: 403,
    error: "may not open room sockets",
  },
  {
    name: "socket route without an upgrade",
    method: "GET",
    path: `/api/rooms/${doRoom}/ws`,
    status: 426,
    error: "expected a WebSocket upgrade",
  },
  {
    name: "POST to the socket route",
    method: "POST",
    path: `/api/rooms/${doRoom}/ws`,
    body: comment(),
    status: 405,
    error: "method POST not allowed",
  },
  {
    name: "CORS preflight of a cross-site JSON post",
    method: "OPTIONS",
    path: "/api/comments",
    headers: {
      "origin": "https://evil.example",
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type",
    },
    status: 405,
    error: "method OPTIONS not allowed",
  },

  // Items 1 and 4: the post limit per client key (IPv4 address, IPv6 /64), room creation per key, and item 5: a room at its cap.
  {
    name: "post past the limit (IPv4)",
    method: "POST",
    path: "/api/comments",
    headers: { "cf-connecting-ip": "192.0.2.101" },
    body: comment(),
    setup: () => spendPosts(() => "192.0.2.101"),
    status: 429,
    error: "sending too fast",
    retryAfter: { max: POST_LIMIT.periodS },
  },
  {
    name: "post past the limit (another address of the same IPv6 /64)",
    method: "POST",
    path: "/api/comments",
    headers: { "cf-connecting-ip": "2001:db8:ab:cd::ffff" },
    body: comment(),
    setup: () => spendPosts((i) => `2001:db8:ab:cd::${i + 1}`),
    status: 429,
    error: "sending too fast",
    retryAfter: { max: POST_LIMIT.periodS },
  },
  {
    name: "new room past the room-creation limit",
    method: "POST",
    path: "/api/comments",
    headers: { "cf-connecting-ip": "192.0.2.102" },
    body: comment({ room: freshRoom }),
    setup: () => spendRooms("192.0.2.102"),
    status: 429,
    error: "too many new rooms",
    retryAfter: { max: ROOM_LIMIT.periodS },
  },
  {
    name: "post to a room at ROOM_MAX_MESSAGES",
    method: "POST",
    path: "/api/comments",
    body: comment({ room: fullRoom }),
    status: 507,
    error: "room is full",
  },

  // Prototype-key room names: refused by the room pattern, or (lower case) ordinary empty rooms whose reads write nothing.
  {
    name: "room __proto__ in a post",
    method: "POST",
    path: "/api/comments",
    body: comment({ room: "__proto__" }),
    status: 400,
    error: "room: room must match",
  },
  {
    name: "room hasOwnProperty in a post",
    method: "POST",
    path: "/api/comments",
    body: comment({ room: "hasOwnProperty" }),
    status: 400,
    error: "room: room must match",
  },
  {
    name: "room toString in a post",
    method: "POST",
    path: "/api/comments",
    body: comment({ room: "toString" }),
    status: 400,
    error: "room: room must match",
  },
  {
    name: "room __proto__ in a read",
    method: "GET",
    path: "/api/comments?room=__proto__",
    status: 400,
    error: "room: room must match",
  },
  {
    name: "room __proto__ socket",
    method: "GET",
    path: "/api/rooms/__proto__/ws",
    headers: upgrade(),
    status: 400,
    error: "room must match",
  },
  {
    name: "room __proto__ inspected",
    method: "GET",
    path: "/api/admin/rooms/__proto__",
    headers: ADMIN,
    status: 400,
    error: "room must match",
  },
  {
    name: "flag naming room __proto__",
    method: "PUT",
    path: "/api/admin/flags",
    headers: ADMIN,
    body: '{"defaultMode":"do","doPercent":0,"rooms":{"__proto__":"do"}}',
    status: 400,
    error: "room names must match",
  },
  {
    name: "flag naming room constructor with a bad mode",
    method: "PUT",
    path: "/api/admin/flags",
    headers: ADMIN,
    body: '{"defaultMode":"do","doPercent":0,"rooms":{"constructor":"redis"}}',
    status: 400,
    error: "rooms.constructor",
  },
  {
    name: "post with a __proto__ key",
    method: "POST",
    path: "/api/comments",
    body: `{"room":"${doRoom}","text":"hi","__proto__":{"kind":"ai"}}`,
    status: 400,
    error: "__proto__",
  },
  {
    name: "post with a constructor key",
    method: "POST",
    path: "/api/comments",
    body: comment({ constructor: { name: "x" } }),
    status: 400,
    error: "constructor",
  },
  {
    name: "read of room constructor (never used: writes nothing)",
    method: "GET",
    path: "/api/comments?room=constructor",
    status: 200,
  },
  {
    name: "message lookup in room tostring",
    method: "GET",
    path: `/api/comments/${validId}?room=tostring`,
    status: 404,
    error: "message not found",
  },
  {
    name: "pending of room valueof (never used: writes nothing)",
    method: "GET",
    path: "/api/bot/pending?room=valueof",
    headers: BOT,
    status: 200,
  },
  {
    name: "inspect of room hasownproperty (never used: writes nothing)",
    method: "GET",
    path: "/api/admin/rooms/hasownproperty",
    headers: ADMIN,
    status: 200,
  },

  // Item 7: names and texts empty once controls and invisible marks are removed; limits on what is shown.
  {
    name: "author of bidi overrides only",
    method: "POST",
    path: "/api/comments",
    body: comment({ author: "\u202e\u202d\u202c" }),
    status: 400,
    error: "author: author must not be empty (control and invisible characters are removed)",
  },
  {
    name: "author of zero-width characters only",
    method: "POST",
    path: "/api/comments",
    body: comment({ author: "\u200b\u200c\u200d\u2060\ufeff" }),
    status: 400,
    error: "author: author must not be empty",
  },
  {
    name: "author of bidi isolates and marks only",
    method: "POST",
    path: "/api/comments",
    body: comment({ author: "\u2066\u2067\u2068\u2069\u200e\u200f\u061c" }),
    status: 400,
    error: "author: author must not be empty",
  },
  {
    name: "author of controls only",
    method: "POST",
    path: "/api/comments",
    body: comment({ author: "\u0000\u0007\u001b\u007f\u0085\u009b" }),
    status: 400,
    error: "author: author must not be empty",
  },
  {
    name: "author of a newline and a tab",
    method: "POST",
    path: "/api/comments",
    body: comment({ author: "\n\t " }),
    status: 400,
    error: "author: author must not be empty",
  },
  {
    name: "text of invisible characters only",
    method: "POST",
    path: "/api/comments",
    body: comment({ text: "\u200b\u202e\u2066\ufeff" }),
    status: 400,
    error: "text: text must not be empty (control and invisible characters are removed)",
  },
  {
    name: "text of whitespace and controls only",
    method: "POST",
    path: "/api/comments",
    body: comment({ text: "\r\n\t \u0000\u0007" }),
    status: 400,
    error: "text: text must not be empty",
  },
  {
    name: "author of 41 characters",
    method: "POST",
    path: "/api/comments",
    body: comment({ author: "a".repeat(41) }),
    status: 400,
    error: "author: author must be at most 40 characters",
  },
  {
    name: "text of 4001 characters",
    method: "POST",
    path: "/api/comments",
    body: comment({ text: "x".repeat(4001) }),
    status: 400,
    error: "text: text must be at most 4000 characters",
  },
  {
    name: "room of 65 characters",
    method: "POST",
    path: "/api/comments",
    body: comment({ room: `a${"b".repeat(64)}` }),
    status: 400,
    error: "room: room must match",
  },
  {
    name: "id with a 17-character suffix",
    method: "POST",
    path: "/api/comments",
    body: comment({ id: `1761938419272-${"a".repeat(17)}` }),
    status: 400,
    error: "id: id must look like",
  },
  {
    name: "id with a 5-character suffix",
    method: "POST",
    path: "/api/comments",
    body: comment({ id: "1761938419272-abcde" }),
    status: 400,
    error: "id: id must look like",
  },
  {
    name: "id with 14 digits",
    method: "POST",
    path: "/api/comments",
    body: comment({ id: "17619384192720-abcdef1" }),
    status: 400,
    error: "id: id must look like",
  },
  {
    name: "id with upper case",
    method: "POST",
    path: "/api/comments",
    body: comment({ id: "1761938419272-ABCDEF1" }),
    status: 400,
    error: "id: id must look like",
  },
  {
    name: "botId of 101 characters",
    method: "POST",
    path: "/api/bot/claim",
    headers: BOT,
    body: claimBody({ botId: "b".repeat(101) }),
    status: 400,
    error: "botId",
  },
  {
    name: "fail reason of 501 characters",
    method: "POST",
    path: "/api/bot/fail",
    headers: BOT,
    body: claimBody({ reason: "r".repeat(501) }),
    status: 400,
    error: "reason",
  },
  {
    name: "claim of a malformed id",
    method: "POST",
    path: "/api/bot/claim",
    headers: BOT,
    body: claimBody({ messageId: "1761938419272-a" }),
    status: 400,
    error: "messageId: id must look like",
  },
  {
    name: "heal of a malformed id",
    method: "POST",
    path: "/api/admin/add-to-cache",
    body: j({ messageId: "../../flags" }),
    status: 400,
    error: "messageId: id must look like",
  },
  {
    name: "heal of an unknown id",
    method: "POST",
    path: "/api/admin/add-to-cache",
    body: j({ messageId: validId }),
    status: 404,
    error: "message not found",
  },

  // Bad JSON, extra keys, wrong types.
  {
    name: "truncated JSON",
    method: "POST",
    path: "/api/comments",
    body: '{"text":',
    status: 400,
    error: "body must be valid JSON",
  },
  {
    name: "empty body",
    method: "POST",
    path: "/api/comments",
    body: "",
    status: 400,
    error: "body must be valid JSON",
  },
  {
    name: "single-quoted JSON",
    method: "POST",
    path: "/api/comments",
    body: "{'text':'hi'}",
    status: 400,
    error: "body must be valid JSON",
  },
  {
    name: "JSON null",
    method: "POST",
    path: "/api/comments",
    body: "null",
    status: 400,
    error: "body must be a JSON object",
  },
  {
    name: "JSON number",
    method: "POST",
    path: "/api/comments",
    body: "42",
    status: 400,
    error: "body must be a JSON object",
  },
  {
    name: "JSON array",
    method: "POST",
    path: "/api/comments",
    body: "[]",
    status: 400,
    error: "body must be a JSON object",
  },
  {
    name: "extra key status",
    method: "POST",
    path: "/api/comments",
    body: comment({ status: "complete" }),
    status: 400,
    error: "status",
  },
  {
    name: "extra key seq",
    method: "POST",
    path: "/api/comments",
    body: comment({ seq: 1 }),
    status: 400,
    error: "seq",
  },
  {
    name: "text a number",
    method: "POST",
    path: "/api/comments",
    body: comment({ text: 42 }),
    status: 400,
    error: "text:",
  },
  {
    name: "author a number",
    method: "POST",
    path: "/api/comments",
    body: comment({ author: 7 }),
    status: 400,
    error: "author:",
  },
  {
    name: "room an array",
    method: "POST",
    path: "/api/comments",
    body: comment({ room: [doRoom] }),
    status: 400,
    error: "room:",
  },
  {
    name: "kind system",
    method: "POST",
    path: "/api/comments",
    body: comment({ kind: "system" }),
    status: 400,
    error: "kind:",
  },
  {
    name: "replyTo null",
    method: "POST",
    path: "/api/comments",
    body: comment({ replyTo: null }),
    status: 400,
    error: "replyTo:",
  },
  {
    name: "human message with a replyTo",
    method: "POST",
    path: "/api/comments",
    body: comment({ replyTo: seedId }),
    status: 400,
    error: "replyTo: only AI replies",
  },
  {
    name: "flag doPercent 101",
    method: "PUT",
    path: "/api/admin/flags",
    headers: ADMIN,
    body: flagsBody({ doPercent: 101 }),
    status: 400,
    error: "doPercent",
  },
  {
    name: "flag doPercent a string",
    method: "PUT",
    path: "/api/admin/flags",
    headers: ADMIN,
    body: flagsBody({ doPercent: "50" }),
    status: 400,
    error: "doPercent",
  },
  {
    name: "flag defaultMode redis",
    method: "PUT",
    path: "/api/admin/flags",
    headers: ADMIN,
    body: flagsBody({ defaultMode: "redis" }),
    status: 400,
    error: "defaultMode",
  },
  {
    name: "flag with an extra key",
    method: "PUT",
    path: "/api/admin/flags",
    headers: ADMIN,
    body: flagsBody({ version: 99 }),
    status: 400,
    error: "version",
  },
  {
    name: "list limit 0",
    method: "GET",
    path: `/api/comments?room=${doRoom}&limit=0`,
    status: 400,
    error: "limit: limit must be at least 1",
  },
  {
    name: "list limit 201",
    method: "GET",
    path: `/api/comments?room=${doRoom}&limit=201`,
    status: 400,
    error: "limit: limit must be at most 200",
  },
  {
    name: "list limit 1.5",
    method: "GET",
    path: `/api/comments?room=${doRoom}&limit=1.5`,
    status: 400,
    error: "limit: limit must be a whole number",
  },
  {
    name: "list since abc",
    method: "GET",
    path: `/api/comments?room=${doRoom}&since=abc`,
    status: 400,
    error: "since:",
  },
  {
    name: "list since -1",
    method: "GET",
    path: `/api/comments?room=${doRoom}&since=-1`,
    status: 400,
    error: "since: since must be 0 or more",
  },
  {
    name: "rooms limit 1001",
    method: "GET",
    path: "/api/rooms?limit=1001",
    status: 400,
    error: "limit: limit must be at most 1000",
  },
  {
    name: "rooms with an empty cursor",
    method: "GET",
    path: "/api/rooms?cursor=",
    status: 400,
    error: "cursor: cursor must not be empty",
  },
  {
    name: "rooms with a cursor of 1025 characters",
    method: "GET",
    path: `/api/rooms?cursor=${"x".repeat(1025)}`,
    status: 400,
    error: "cursor: cursor must be at most 1024 characters",
  },
  {
    name: "lookup of a malformed id",
    method: "GET",
    path: "/api/comments/%00%2e%2e",
    status: 400,
    error: "id must look like",
  },

  // Tokens: operator and bot routes, AI replies.
  {
    name: "flags without a token",
    method: "GET",
    path: "/api/admin/flags",
    status: 401,
    error: "missing or wrong bearer token (ADMIN_TOKEN)",
  },
  {
    name: "flags with a wrong token",
    method: "GET",
    path: "/api/admin/flags",
    headers: wrongToken,
    status: 401,
    error: "ADMIN_TOKEN",
  },
  {
    name: "flag change with the bot token",
    method: "PUT",
    path: "/api/admin/flags",
    headers: BOT,
    body: flagsBody(),
    status: 401,
    error: "ADMIN_TOKEN",
  },
  {
    name: "flag change without a token",
    method: "PUT",
    path: "/api/admin/flags",
    body: flagsBody(),
    status: 401,
    error: "ADMIN_TOKEN",
  },
  { name: "stats without a token", method: "GET", path: "/api/admin/stats", status: 401, error: "ADMIN_TOKEN" },
  {
    name: "room inspection with a wrong token",
    method: "GET",
    path: `/api/admin/rooms/${doRoom}`,
    headers: wrongToken,
    status: 401,
    error: "ADMIN_TOKEN",
  },
  {
    name: "room inspection with an empty bearer",
    method: "GET",
    path: `/api/admin/rooms/${doRoom}`,
    headers: { authorization: "Bearer " },
    status: 401,
    error: "ADMIN_TOKEN",
  },
  {
    name: "pending without a token",
    method: "GET",
    path: `/api/bot/pending?room=${doRoom}`,
    status: 401,
    error: "missing or wrong bearer token (BOT_TOKEN or a bot",
  },
  {
    name: "claim without a token",
    method: "POST",
    path: "/api/bot/claim",
    body: claimBody(),
    status: 401,
    error: "BOT_TOKEN",
  },
  {
    name: "release with a wrong token",
    method: "POST",
    path: "/api/bot/release",
    headers: wrongToken,
    body: claimBody(),
    status: 401,
    error: "BOT_TOKEN",
  },
  {
    name: "fail with Basic auth",
    method: "POST",
    path: "/api/bot/fail",
    headers: { authorization: `Basic ${env.BOT_TOKEN}` },
    body: claimBody({ reason: "x" }),
    status: 401,
    error: "BOT_TOKEN",
  },
  {
    name: "AI reply without a token",
    method: "POST",
    path: "/api/comments",
    body: comment({ kind: "ai", replyTo: seedId }),
    status: 401,
    error: "BOT_TOKEN",
  },
  {
    name: "AI reply with a wrong token",
    method: "POST",
    path: "/api/comments",
    headers: wrongToken,
    body: comment({ kind: "ai", replyTo: seedId }),
    status: 401,
    error: "BOT_TOKEN",
  },

  // Streaming (POST /api/bot/stream): only the holder of a live claim streams, into a do room, a reply not yet posted.
  {
    name: "text/plain bot stream",
    method: "POST",
    path: "/api/bot/stream",
    headers: { ...BOT, "content-type": "text/plain" },
    body: streamBody(),
    status: 415,
    error: "content-type must be application/json",
  },
  {
    name: "stream without a token",
    method: "POST",
    path: "/api/bot/stream",
    body: streamBody(),
    status: 401,
    error: "BOT_TOKEN",
  },
  {
    name: "stream with a wrong token",
    method: "POST",
    path: "/api/bot/stream",
    headers: wrongToken,
    body: streamBody(),
    status: 401,
    error: "BOT_TOKEN",
  },
  {
    name: "stream with an extra key",
    method: "POST",
    path: "/api/bot/stream",
    headers: BOT,
    body: streamBody({ stopped: true }),
    status: 400,
    error: "stopped",
  },
  {
    name: "stream with a negative offset",
    method: "POST",
    path: "/api/bot/stream",
    headers: BOT,
    body: streamBody({ offset: -1 }),
    status: 400,
    error: "offset",
  },
  {
    name: "stream offset past 4000",
    method: "POST",
    path: "/api/bot/stream",
    headers: BOT,
    body: streamBody({ offset: 4001 }),
    status: 400,
    error: "offset",
  },
  {
    name: "stream delta of 4001 characters",
    method: "POST",
    path: "/api/bot/stream",
    headers: BOT,
    body: streamBody({ delta: "x".repeat(4001) }),
    status: 400,
    error: "delta",
  },
  {
    name: "stream author of bidi marks only",
    method: "POST",
    path: "/api/bot/stream",
    headers: BOT,
    body: streamBody({ author: "\u202e\u200f" }),
    status: 400,
    error: "author must not be empty",
  },
  {
    name: "stream of a malformed reply id",
    method: "POST",
    path: "/api/bot/stream",
    headers: BOT,
    body: streamBody({ id: "x" }),
    status: 400,
    error: "id: id must look like",
  },
  {
    name: "stream of a message nobody claimed",
    method: "POST",
    path: "/api/bot/stream",
    headers: BOT,
    body: streamBody(),
    status: 409,
    error: "claim the message before streaming its reply",
  },
  {
    name: "stream of an unknown message",
    method: "POST",
    path: "/api/bot/stream",
    headers: BOT,
    body: streamBody({ replyTo: newMessageId() }),
    status: 404,
    error: "replyTo: message not found",
  },
  {
    name: "stream of a deleted message",
    method: "POST",
    path: "/api/bot/stream",
    headers: BOT,
    body: streamBody({ replyTo: deletedId }),
    status: 410,
    error: "replyTo: ",
  },
  {
    name: "stream into a room never written",
    method: "POST",
    path: "/api/bot/stream",
    headers: BOT,
    body: streamBody({ room: freshRoom }),
    status: 404,
    error: "replyTo: message not found",
  },

  // Unknown routes and wrong methods.
  { name: "unknown API route", method: "GET", path: "/api/nothing", status: 404, error: "no such API route" },
  {
    name: "too deep a comment path",
    method: "GET",
    path: `/api/comments/${seedId}/replies`,
    status: 404,
    error: "no such API route",
  },
  {
    name: "bare /api/admin",
    method: "GET",
    path: "/api/admin",
    headers: ADMIN,
    status: 404,
    error: "no such API route",
  },
  {
    name: "DELETE on comments",
    method: "DELETE",
    path: "/api/comments",
    status: 405,
    error: "method DELETE not allowed on /api/comments",
  },
  {
    name: "PUT on comments",
    method: "PUT",
    path: "/api/comments",
    body: comment(),
    status: 405,
    error: "method PUT not allowed",
  },
  {
    name: "PATCH on a comment",
    method: "PATCH",
    path: `/api/comments/${seedId}`,
    body: comment(),
    status: 405,
    error: "method PATCH not allowed",
  },
  {
    name: "POST on health",
    method: "POST",
    path: "/api/health",
    body: "{}",
    status: 405,
    error: "method POST not allowed",
  },
  {
    name: "DELETE on flags",
    method: "DELETE",
    path: "/api/admin/flags",
    headers: ADMIN,
    status: 405,
    error: "method DELETE not allowed",
  },
  { name: "GET on heal", method: "GET", path: "/api/admin/add-to-cache", status: 405, error: "method GET not allowed" },
  {
    name: "GET on claim",
    method: "GET",
    path: "/api/bot/claim",
    headers: BOT,
    status: 405,
    error: "method GET not allowed",
  },
  {
    name: "POST on rooms",
    method: "POST",
    path: "/api/rooms",
    body: j({ name: freshRoom }),
    status: 405,
    error: "method POST not allowed",
  },
  // Stop and ask again belong to the asker (the question's edit key), a bot or an operator.
  {
    name: "stop a reply to someone else's question, no key",
    method: "POST",
    path: `/api/comments/${seedId}/stop`,
    body: j({ room: doRoom }),
    status: 403,
    error: "editKey: only who asked",
  },
  {
    name: "stop with a guessed key",
    method: "POST",
    path: `/api/comments/${seedId}/stop`,
    body: j({ room: doRoom, editKey: "guessed-key-0123456789abc" }),
    status: 403,
    error: "editKey: only who asked",
  },
  {
    name: "regenerate someone else's question, no key",
    method: "POST",
    path: `/api/comments/${seedId}/regenerate`,
    body: j({ room: doRoom, requestId: "abuse-request-1" }),
    status: 403,
    error: "editKey: only who asked",
  },
  {
    name: "regenerate with a guessed key",
    method: "POST",
    path: `/api/comments/${seedId}/regenerate`,
    body: j({ room: doRoom, requestId: "abuse-request-2", editKey: "guessed-key-0123456789abc" }),
    status: 403,
    error: "editKey: only who asked",
  },
  {
    name: "regenerate with the bot token (a bot does not ask)",
    method: "POST",
    path: `/api/comments/${seedId}/regenerate`,
    headers: BOT,
    body: j({ room: doRoom, requestId: "abuse-request-3" }),
    status: 403,
    error: "editKey: only who asked",
  },
  {
    name: "regenerate with a malformed request id",
    method: "POST",
    path: `/api/comments/${seedId}/regenerate`,
    body: j({ room: doRoom, requestId: "x y" }),
    status: 400,
    error: "requestId must be 8 to 64",
  },
  {
    name: "the bot's room list without a token",
    method: "GET",
    path: "/api/bot/rooms",
    status: 401,
    error: "missing or wrong bearer token",
  },
  {
    name: "DELETE on pending",
    method: "DELETE",
    path: "/api/bot/pending",
    headers: BOT,
    status: 405,
    error: "method DELETE not allowed",
  },
  {
    name: "GET on stream",
    method: "GET",
    path: "/api/bot/stream",
    headers: BOT,
    status: 405,
    error: "method GET not allowed",
  },
];

beforeAll(async () => {
  await setRoomMode(doRoom, "do");
  await setRoomMode(fullRoom, "do");
  await setRoomMode(kvRoom, "kv");
  await post(doRoom, "seed", { id: seedId });
  await post(doRoom, "deleted by an operator", { id: deletedId });
  expect(
    (await call(`/api/admin/messages/${deletedId}?room=${doRoom}`, { method: "DELETE", headers: ADMIN })).status,
  ).toBe(200);
  await post(kvRoom, "seed");
  await post(fullRoom, "the only message");
  // The operator's cap is kept with the room's log: it holds even if the object is evicted between rows.
  const capped = await call(`/api/admin/rooms/${fullRoom}/limits`, {
    method: "PUT",
    headers: { ...ADMIN, "content-type": "application/json" },
    body: j({ maxMessages: 1 }),
  });
  expect(capped.status).toBe(200);
  await Promise.all([settled(doRoom), settled(fullRoom)]);
});

function requestOf(row: Row): Request {
  const headers = new Headers();
  const given = { ...(row.body !== undefined ? JSON_TYPE : {}), ...row.headers };
  for (const [name, value] of Object.entries(given)) if (value !== null) headers.set(name, value);
  const body = typeof row.body === "function" ? row.body() : row.body;
  const request = new Request(`http://chat.test${row.path}`, { method: row.method, headers, body });
  // A string body makes the runtime add text/plain; a row that drops the type means none at all.
  if (row.headers?.["content-type"] === null) request.headers.delete("content-type");
  return request;
}

describe("abuse table", () => {
  it("has at least 60 rows", () => {
    expect(rows.length).toBeGreaterThanOrEqual(60);
    expect(new Set(rows.map((r) => r.name)).size).toBe(rows.length);
  });

  it.each(rows)("$method $path: $name → $status", async (row) => {
    await row.setup?.();
    const before = await fingerprint();
    const res = await exports.default.fetch(requestOf(row));
    expect(res.status).toBe(row.status);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    // No row, and no route, invites another site in.
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    const body = await res.json<Record<string, unknown>>();
    if (row.error !== undefined) {
      expect(Object.keys(body)).toEqual(["error"]);
      expect(body.error).toContain(row.error);
    } else {
      expect(body).not.toHaveProperty("error");
    }
    if (row.retryAfter) {
      const seconds = Number(res.headers.get("retry-after"));
      expect(seconds).toBeGreaterThanOrEqual(1);
      expect(seconds).toBeLessThanOrEqual(row.retryAfter.max);
    }
    expect(await fingerprint()).toEqual(before);
  });
});

describe("names and texts that are cleaned, not refused", () => {
  it("stores a name with invisible marks as the name shown, and counts limits on what is shown", async () => {
    const room = uniqueRoom("abuse-clean");
    const author = `\u202e${"a".repeat(40)}\u200b\u2066`;
    const text = `${"x".repeat(4000)}\u200b\u200b`;
    const stored = await post(room, text, { author });
    expect(stored).toMatchObject({ author: "a".repeat(40), text: "x".repeat(4000) });
    const id = `1761938419272-${"a".repeat(16)}`;
    expect((await postJson("/api/comments", { room: `a${"b".repeat(63)}`, text: "at every limit", id })).status).toBe(
      201,
    );
    expect((await list(room)).map((m) => m.author)).toEqual(["a".repeat(40)]);
  });

  it("treats lower-case prototype names as ordinary rooms, each with its own log", async () => {
    const names = ["constructor", "prototype", "tostring", "valueof", "hasownproperty", "proto"];
    for (const room of names) await post(room, `in ${room}`);
    for (const room of names) expect((await list(room)).map((m) => m.text)).toEqual([`in ${room}`]);
  });
});

/** Frames a client might send instead of a ping or a valid send. */
type FrameRow = {
  name: string;
  frame: string | Uint8Array;
  close?: { code: number; reason: string };
  nack?: { status: number; error: string };
};

const send = (extra: Record<string, unknown>) => j({ type: "send", id: newMessageId(), text: "hi", ...extra });

const frameRows: FrameRow[] = [
  { name: "not JSON", frame: "hello", close: { code: 1008, reason: "frames must be JSON" } },
  {
    name: "an unknown frame type",
    frame: j({ type: "subscribe", room: "other" }),
    close: { code: 1008, reason: "unknown frame type" },
  },
  { name: "an object without a type", frame: "{}", close: { code: 1008, reason: "unknown frame type" } },
  { name: "JSON null", frame: "null", close: { code: 1008, reason: "unknown frame type" } },
  {
    name: "a prototype-key type",
    frame: j({ type: "__proto__" }),
    close: { code: 1008, reason: "unknown frame type" },
  },
  {
    name: "a binary frame",
    frame: new Uint8Array([123, 125]),
    close: { code: 1003, reason: "frames must be JSON text" },
  },
  {
    name: "a frame over 16 KB",
    frame: j({ type: "ping", pad: "x".repeat(16_384) }),
    close: { code: 1009, reason: "frames must be at most 16384 bytes" },
  },
  {
    // 6,000 UTF-16 units, 18,000 bytes: the cap counts bytes.
    name: "a frame over 16 KB in UTF-8 but not in UTF-16 units",
    frame: j({ type: "ping", pad: "€".repeat(6_000) }),
    close: { code: 1009, reason: "frames must be at most 16384 bytes" },
  },
  {
    name: "a send as a bot",
    frame: send({ author: "bot (offline)" }),
    nack: { status: 400, error: "author: this name is reserved for bots and operators" },
  },
  {
    name: "a send as admin",
    frame: send({ author: "Admin" }),
    nack: { status: 400, error: "author: this name is reserved" },
  },
  {
    name: "a send without an id",
    frame: j({ type: "send", text: "hi" }),
    close: { code: 1008, reason: "a send frame needs an id" },
  },
  {
    name: "a send with a numeric id",
    frame: j({ type: "send", id: 1, text: "hi" }),
    close: { code: 1008, reason: "a send frame needs an id" },
  },
  {
    name: "a send whose author is bidi marks only",
    frame: send({ author: "\u202e\u2066\u200f" }),
    nack: { status: 400, error: "author: author must not be empty (control and invisible characters are removed)" },
  },
  {
    name: "a send whose text is zero-width only",
    frame: send({ text: "\u200b\u200d\ufeff" }),
    nack: { status: 400, error: "text: text must not be empty" },
  },
  { name: "a send with an extra key", frame: send({ kind: "ai" }), nack: { status: 400, error: "kind" } },
  {
    name: "a send with a malformed id",
    frame: j({ type: "send", id: "x", text: "hi" }),
    nack: { status: 400, error: "id: id must look like" },
  },
  {
    name: "a send of 4001 characters",
    frame: send({ text: "x".repeat(4001) }),
    nack: { status: 400, error: "text: text must be at most 4000 characters" },
  },
  {
    name: "a stop without an id",
    frame: j({ type: "stop" }),
    close: { code: 1008, reason: "stop: id: Invalid input: expected string, received undefined" },
  },
  {
    name: "a stop with a malformed id",
    frame: j({ type: "stop", id: "x" }),
    close: { code: 1008, reason: "stop: id: id must look like <epoch ms>-<base36>" },
  },
  {
    name: "a stop with an extra key",
    frame: j({ type: "stop", id: validId, text: "hi" }),
    close: { code: 1008, reason: 'stop: Unrecognized key: "text"' },
  },
  {
    name: "a stop of a reply nobody is writing",
    frame: j({ type: "stop", id: validId }),
    nack: { status: 404, error: "no reply with this id is being written" },
  },
];

describe("junk socket frames", () => {
  const room = uniqueRoom("abuse-frames");
  let bystander: Awaited<ReturnType<typeof connect>>;
  beforeAll(async () => {
    await setRoomMode(room, "do");
    await post(room, "before the junk");
    await settled(room);
    bystander = await connect(room);
    await bystander.next(frameOf("hello"));
  });
  afterAll(() => bystander.ws.close(1000, "done"));

  it.each(frameRows)("$name", async (row) => {
    const socket = await connect(room);
    await socket.next(frameOf("hello"));
    const before = await fingerprint();
    const logBefore = await list(room);
    socket.ws.send(row.frame);
    if (row.close) {
      expect(await socket.whenClosed()).toEqual(row.close);
    } else {
      const nack = await socket.next(frameOf("nack"));
      expect(nack.status).toBe(row.nack!.status);
      expect(nack.error).toContain(row.nack!.error);
      socket.ws.close(1000, "done");
    }
    expect(socket.frames.filter((f) => f.type === "ack")).toEqual([]);
    expect(await fingerprint()).toEqual(before);
    expect(await list(room)).toEqual(logBefore);
    // Only that socket: the bystander is still open and gets the next message.
    const next = await post(room, `after ${row.name}`);
    await bystander.next(
      (f): f is Extract<typeof f, { type: "message" }> => f.type === "message" && f.message.id === next.id,
    );
    await settled(room);
  });

  it("refuses the 21st socket of one address (4429) and keeps its first 20 open", async () => {
    const capped = uniqueRoom("abuse-cap");
    const ip = { "cf-connecting-ip": "192.0.2.150" };
    const sockets = [];
    for (let i = 0; i < 20; i++) {
      const socket = await connect(capped, ip);
      await socket.next(frameOf("hello"));
      sockets.push(socket);
    }
    const before = await fingerprint();
    const extra = await connect(capped, ip);
    expect(await extra.whenClosed()).toEqual({
      code: TOO_MANY_SOCKETS_CLOSE,
      reason: expect.stringContaining("too many sockets from your address"),
    });
    expect(await fingerprint()).toEqual(before);
    expect(await tables(capped)).toEqual([]);
    // The first 20 are open: each still answers a ping.
    for (const socket of sockets) {
      socket.ws.send(j({ type: "ping", n: 1 }));
      await socket.next(frameOf("pong"));
      expect(socket.ws.readyState).toBe(WebSocket.OPEN);
    }
    for (const socket of sockets) socket.ws.close(1000, "done");
  });
});

describe("attacks answered without taking anything", () => {
  it("a presence frame naming a bot or staff leaves the person unnamed; the socket stays open", async () => {
    const room = uniqueRoom("abuse-presence");
    await setRoomMode(room, "do");
    const watcher = await connect(room);
    await watcher.next(frameOf("hello"));
    const impostor = await connect(room);
    await impostor.next(frameOf("hello"));
    impostor.send({ type: "presence", name: "bot (llama3.2)" });
    impostor.send({ type: "presence", name: "admin" });
    impostor.send({ type: "presence", name: "ana" });
    const named = await watcher.next(
      (f): f is Extract<typeof f, { type: "presence" }> =>
        f.type === "presence" && f.people.some((p) => p.name === "ana"),
    );
    const names = named.people.map((p) => p.name);
    expect(names).not.toContain("admin");
    expect(names).not.toContain("bot (llama3.2)");
    expect(impostor.frames.some((f) => f.type === "nack")).toBe(false);
    watcher.ws.close(1000, "done");
    impostor.ws.close(1000, "done");
  });

  it("room A's id posted into a kv room: room A's record, answers and outbox stay its own", async () => {
    const before = {
      record: await env.CHAT_KV.get(commentKey(doRoom, seedId)),
      get: await (await call(`/api/comments/${seedId}?room=${doRoom}`)).json(),
      list: await list(doRoom),
      failures: (await env.ROOM.getByName(doRoom).inspect()).outbox.failures,
    };
    const res = await postJson("/api/comments", { room: kvRoom, id: seedId, text: "taking room A's id" });
    expect(res.status).toBe(201);
    await settled(doRoom);
    expect({
      record: await env.CHAT_KV.get(commentKey(doRoom, seedId)),
      get: await (await call(`/api/comments/${seedId}?room=${doRoom}`)).json(),
      list: await list(doRoom),
      failures: (await env.ROOM.getByName(doRoom).inspect()).outbox.failures,
    }).toEqual(before);
  });

  it("a bot's failure reason naming the model's host reaches operators only", async () => {
    const room = uniqueRoom("abuse-host");
    await setRoomMode(room, "do");
    const human = await post(room, "anyone?");
    await postJson("/api/bot/claim", { messageId: human.id, room, botId: "bot-h" }, BOT);
    const reason = "Ollama at http://10.0.0.7:11434 did not answer";
    expect((await postJson("/api/bot/fail", { messageId: human.id, room, botId: "bot-h", reason }, BOT)).status).toBe(
      200,
    );
    const seen = j(await list(room)) + j(await (await call(`/api/comments/${human.id}?room=${room}`)).json());
    expect(seen).not.toContain("10.0.0.7");
    expect(seen).toContain("the model is unavailable");
    const inspected = await (
      await call(`/api/admin/rooms/${room}`, { headers: ADMIN })
    ).json<{
      failures: { detail: string }[];
    }>();
    expect(inspected.failures.map((f) => f.detail)).toEqual([reason]);
  });
});
