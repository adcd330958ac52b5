// Bad input gets a clear 4xx `{ error }` and changes nothing; tokens are checked.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN, BOT, call, list, post, postJson, uniqueRoom } from "./helpers";
import { DRAIN_BYTES } from "../../src/worker/body";
import { endlessBody } from "./probes";

const room = uniqueRoom("bad");
const validId = () => `${Date.now()}-abcdef1`;

/** `body` as a function: built per run (a stream can be read once). */
type Row = {
  name: string;
  method: string;
  path: string;
  body?: string | (() => BodyInit);
  headers?: Record<string, string>;
  status: number;
  error: string;
};

const rows: Row[] = [
  {
    name: "empty text",
    method: "POST",
    path: "/api/comments",
    body: JSON.stringify({ room, text: "   " }),
    status: 400,
    error: "text: text must not be empty",
  },
  {
    name: "text too long",
    method: "POST",
    path: "/api/comments",
    body: JSON.stringify({ room, text: "x".repeat(4001) }),
    status: 400,
    error: "text: text must be at most 4000 characters",
  },
  {
    name: "text not a string",
    method: "POST",
    path: "/api/comments",
    body: JSON.stringify({ room, text: 42 }),
    status: 400,
    error: "text:",
  },
  {
    name: "author too long",
    method: "POST",
    path: "/api/comments",
    body: JSON.stringify({ room, text: "hi", author: "a".repeat(41) }),
    status: 400,
    error: "author: author must be at most 40 characters",
  },
  {
    name: "bad room",
    method: "POST",
    path: "/api/comments",
    body: JSON.stringify({ room: "Not A Room", text: "hi" }),
    status: 400,
    error: "room: room must match",
  },
  {
    name: "bad id",
    method: "POST",
    path: "/api/comments",
    body: JSON.stringify({ room, text: "hi", id: "123" }),
    status: 400,
    error: "id: id must look like",
  },
  {
    name: "unknown field",
    method: "POST",
    path: "/api/comments",
    body: JSON.stringify({ room, text: "hi", admin: true }),
    status: 400,
    error: "admin",
  },
  {
    name: "malformed JSON",
    method: "POST",
    path: "/api/comments",
    body: '{"text":',
    status: 400,
    error: "body must be valid JSON",
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
    name: "body over 16 KB",
    method: "POST",
    path: "/api/comments",
    body: JSON.stringify({ room, text: "x".repeat(17_000) }),
    status: 413,
    error: "body must be at most 16384 bytes",
  },
  {
    name: "chunked body over 16 KB",
    method: "POST",
    path: "/api/comments",
    body: () => endlessBody(),
    status: 413,
    error: "body must be at most 16384 bytes",
  },
  {
    name: "cross-site text/plain post",
    method: "POST",
    path: "/api/comments",
    headers: { "content-type": "text/plain" },
    body: JSON.stringify({ room, text: "hi" }),
    status: 415,
    error: "content-type must be application/json (got text/plain)",
  },
  {
    name: "cross-site form post",
    method: "POST",
    path: "/api/comments",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: `room=${room}&text=hi`,
    status: 415,
    error: "content-type must be application/json",
  },
  {
    name: "multipart post",
    method: "POST",
    path: "/api/comments",
    headers: { "content-type": "multipart/form-data; boundary=x" },
    body: "--x--",
    status: 415,
    error: "content-type must be application/json (got multipart/form-data)",
  },
  {
    name: "JSON-like content type",
    method: "POST",
    path: "/api/comments",
    headers: { "content-type": "application/jsonp" },
    body: JSON.stringify({ room, text: "hi" }),
    status: 415,
    error: "content-type must be application/json",
  },
  {
    name: "cross-site text/plain heal",
    method: "POST",
    path: "/api/admin/add-to-cache",
    headers: { "content-type": "text/plain;charset=UTF-8" },
    body: JSON.stringify({ messageId: validId() }),
    status: 415,
    error: "content-type must be application/json (got text/plain)",
  },
  {
    name: "text/plain flag change",
    method: "PUT",
    path: "/api/admin/flags",
    headers: { ...ADMIN, "content-type": "text/plain" },
    body: JSON.stringify({ defaultMode: "do", doPercent: 100, rooms: {} }),
    status: 415,
    error: "content-type must be application/json",
  },
  {
    name: "text/plain bot claim",
    method: "POST",
    path: "/api/bot/claim",
    headers: { ...BOT, "content-type": "text/plain" },
    body: JSON.stringify({ messageId: validId(), botId: "b" }),
    status: 415,
    error: "content-type must be application/json",
  },
  {
    name: "human with replyTo",
    method: "POST",
    path: "/api/comments",
    body: JSON.stringify({ room, text: "hi", replyTo: validId() }),
    status: 400,
    error: "replyTo: only AI replies",
  },
  {
    name: "ai without token",
    method: "POST",
    path: "/api/comments",
    body: JSON.stringify({ room, text: "hi", kind: "ai", replyTo: validId() }),
    status: 401,
    error: "missing or wrong bearer token",
  },
  {
    name: "ai reply to unknown message",
    method: "POST",
    path: "/api/comments",
    headers: BOT,
    body: JSON.stringify({ room, text: "hi", kind: "ai", replyTo: validId() }),
    status: 404,
    error: "replyTo: message not found",
  },
  {
    name: "limit too high",
    method: "GET",
    path: `/api/comments?room=${room}&limit=201`,
    status: 400,
    error: "limit: limit must be at most 200",
  },
  {
    name: "limit not a number",
    method: "GET",
    path: `/api/comments?room=${room}&limit=lots`,
    status: 400,
    error: "limit:",
  },
  {
    name: "negative since",
    method: "GET",
    path: `/api/comments?room=${room}&since=-1`,
    status: 400,
    error: "since: since must be 0 or more",
  },
  { name: "bad id lookup", method: "GET", path: "/api/comments/not-an-id", status: 400, error: "id must look like" },
  {
    name: "unknown id lookup",
    method: "GET",
    path: `/api/comments/${validId()}`,
    status: 404,
    error: "message not found",
  },
  {
    name: "heal bad id",
    method: "POST",
    path: "/api/admin/add-to-cache",
    body: JSON.stringify({ messageId: "nope" }),
    status: 400,
    error: "messageId: id must look like",
  },
  {
    name: "heal unknown id",
    method: "POST",
    path: "/api/admin/add-to-cache",
    body: JSON.stringify({ messageId: validId() }),
    status: 404,
    error: "message not found",
  },
  {
    name: "heal without id",
    method: "POST",
    path: "/api/admin/add-to-cache",
    body: "{}",
    status: 400,
    error: "messageId",
  },
  {
    name: "claim unknown",
    method: "POST",
    path: "/api/bot/claim",
    headers: BOT,
    body: JSON.stringify({ messageId: validId(), botId: "b" }),
    status: 404,
    error: "message not found",
  },
  {
    name: "claim without botId",
    method: "POST",
    path: "/api/bot/claim",
    headers: BOT,
    body: JSON.stringify({ messageId: validId() }),
    status: 400,
    error: "botId",
  },
  { name: "unknown route", method: "GET", path: "/api/nothing", status: 404, error: "no such API route" },
  {
    name: "wrong method",
    method: "DELETE",
    path: "/api/comments",
    status: 405,
    error: "method DELETE not allowed on /api/comments",
  },
  {
    name: "wrong method on flags",
    method: "POST",
    path: "/api/admin/flags",
    headers: ADMIN,
    body: "{}",
    status: 405,
    error: "method POST not allowed",
  },
  { name: "no token for flags", method: "GET", path: "/api/admin/flags", status: 401, error: "ADMIN_TOKEN" },
  {
    name: "bot token for flags",
    method: "PUT",
    path: "/api/admin/flags",
    headers: BOT,
    body: JSON.stringify({ defaultMode: "do", doPercent: 100, rooms: {} }),
    status: 401,
    error: "ADMIN_TOKEN",
  },
  {
    name: "wrong token for stats",
    method: "GET",
    path: "/api/admin/stats",
    headers: { authorization: "Bearer nope" },
    status: 401,
    error: "ADMIN_TOKEN",
  },
  {
    name: "no token for a deletion",
    method: "DELETE",
    path: `/api/admin/messages/${validId()}?room=${room}`,
    status: 401,
    error: "ADMIN_TOKEN",
  },
  {
    name: "bot token for a deletion",
    method: "DELETE",
    path: `/api/admin/messages/${validId()}?room=${room}`,
    headers: BOT,
    status: 401,
    error: "ADMIN_TOKEN",
  },
  {
    name: "deletion without room",
    method: "DELETE",
    path: `/api/admin/messages/${validId()}`,
    headers: ADMIN,
    status: 400,
    error: "room: room is required: ?room=<room>",
  },
  {
    name: "deletion with two rooms",
    method: "DELETE",
    path: `/api/admin/messages/${validId()}?room=${room}&room=lobby`,
    headers: ADMIN,
    status: 400,
    error: "room: room must be given once",
  },
  {
    name: "deletion of a bad id",
    method: "DELETE",
    path: `/api/admin/messages/nope?room=${room}`,
    headers: ADMIN,
    status: 400,
    error: "id must look like",
  },
  {
    name: "deletion of an unknown id",
    method: "DELETE",
    path: `/api/admin/messages/${validId()}?room=${room}`,
    headers: ADMIN,
    status: 404,
    error: "message not found in this room",
  },
  {
    name: "deletion in a prototype-key room",
    method: "DELETE",
    path: `/api/admin/messages/${validId()}?room=constructor`,
    headers: ADMIN,
    status: 404,
    error: "message not found in this room",
  },
  {
    name: "wrong method on a message deletion",
    method: "PUT",
    path: `/api/admin/messages/${validId()}?room=${room}`,
    headers: ADMIN,
    body: "{}",
    status: 405,
    error: "method PUT not allowed",
  },
  {
    name: "no token for pending",
    method: "GET",
    path: `/api/bot/pending?room=${room}`,
    status: 401,
    error: "BOT_TOKEN",
  },
  {
    name: "not bearer",
    method: "GET",
    path: `/api/bot/pending?room=${room}`,
    headers: { authorization: `Basic ${env.BOT_TOKEN}` },
    status: 401,
    error: "BOT_TOKEN",
  },
];

describe("bad input", () => {
  it.each(rows)("$name → $status", async ({ method, path, body, headers, status, error }) => {
    const flagsBefore = await env.CHAT_KV.get("flags");
    const keysBefore = (await env.CHAT_KV.list()).keys.length;
    const res = await call(path, {
      method,
      body: typeof body === "function" ? body() : body,
      headers: { "content-type": "application/json", ...headers },
    });
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toContain("application/json");
    const json = await res.json<{ error: string }>();
    expect(Object.keys(json)).toEqual(["error"]);
    expect(json.error).toContain(error);
    expect((await env.CHAT_KV.list()).keys.length).toBe(keysBefore);
    expect(await env.CHAT_KV.get("flags")).toBe(flagsBefore);
    expect(await list(room)).toEqual([]);
  });
});

describe("body cap", () => {
  it("keeps none of a chunked body past 16 KB, and cancels an endless one after DRAIN_BYTES", async () => {
    const counter = { pulled: 0 };
    const res = await call("/api/comments", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: endlessBody(counter),
    });
    expect(res.status).toBe(413);
    // Read on (and dropped) so the answer is a clean 413, then cancelled: whatever the runtime
    // buffers in between is a few chunks, not the endless upload.
    expect(counter.pulled).toBeGreaterThan(DRAIN_BYTES);
    expect(counter.pulled).toBeLessThan(DRAIN_BYTES + 256 * 1024);
  });
});

describe("heal rate limit", () => {
  it("answers 429 with Retry-After past the per-address limit, and other addresses still heal", async () => {
    const target = uniqueRoom("rate");
    const message = await post(target, "heal me");
    let limited: Response | null = null;
    // The limiter's windows are aligned to the wall clock. 2 × limit + 1 calls reach the
    // limit even when the loop straddles a window boundary (it takes far less than 60 s).
    const HEAL_LIMIT = 600;
    for (let i = 0; i < 2 * HEAL_LIMIT + 1 && !limited; i++) {
      const res = await postJson(
        "/api/admin/add-to-cache",
        { messageId: message.id, room: target },
        { "cf-connecting-ip": "198.51.100.7" },
      );
      if (res.status === 429) limited = res;
      else expect(res.status).toBe(200);
    }
    expect(limited).not.toBeNull();
    expect(Number(limited!.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await limited!.json<{ error: string }>()).error).toContain("too many heal requests");
    const other = await postJson(
      "/api/admin/add-to-cache",
      { messageId: message.id, room: target },
      { "cf-connecting-ip": "198.51.100.8" },
    );
    expect(other.status).toBe(200);
  });
});

describe("health", () => {
  it("answers without storage", async () => {
    const res = await call("/api/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });
});
