// The limits against a real `wrangler dev` with loopback not exempt: each loopback
// address (127.0.0.2, 127.0.0.3) is a client of its own, as `wrangler dev` reports the
// connection's address in cf-connecting-ip. One address flooding posts meets 429 with
// Retry-After while another keeps posting in the same room; 50 sockets from one address
// get 20 open and the rest closed with 4429; a junk frame closes only its own socket; a
// Stop script against another person's streaming reply is refused (403, then 429) and the
// reply streams to its end.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalWorker, type LocalWorker } from "../../scripts/local-worker";
import { PING_FRAME, TOO_MANY_SOCKETS_CLOSE, type ServerFrame } from "../../src/shared/frames";
import { newMessageId, type Message } from "../../src/shared/message";
import { openSocketFrom, requestFrom, type BoundSocket } from "./support/bound-client";

/** wrangler.toml: POST_LIMITER 20 per 10 s, ROOM_MAX_SOCKETS_PER_CLIENT 20. */
const POST_LIMIT = 20;
const PER_CLIENT_SOCKETS = 20;
const FLOODER = "127.0.0.2";
const NEIGHBOUR = "127.0.0.3";

let worker: LocalWorker;
const sockets: BoundSocket[] = [];

beforeAll(async () => {
  // Loopback is exempt by default (tests stand for many people); here it is not.
  worker = await startLocalWorker({ vars: { RATE_LIMIT_EXEMPT: "" } });
});
afterAll(async () => {
  for (const socket of sockets) socket.close();
  await worker?.stop();
});

const postFrom = (address: string, room: string, text: string) =>
  requestFrom(address, `${worker.url}/api/comments`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ room, text }),
  });

async function listRoom(room: string): Promise<Message[]> {
  const res = await requestFrom(NEIGHBOUR, `${worker.url}/api/comments?room=${room}&limit=200`);
  return (JSON.parse(res.body) as { comments: Message[] }).comments;
}

async function socketFrom(address: string, room: string): Promise<BoundSocket> {
  const socket = await openSocketFrom(address, `${worker.url.replace(/^http/, "ws")}/api/rooms/${room}/ws`);
  sockets.push(socket);
  return socket;
}

const parsed = (text: string) => JSON.parse(text) as ServerFrame;
const isHello = (text: string) => parsed(text).type === "hello";
const carries = (id: string) => (text: string) => {
  const f = parsed(text);
  return f.type === "message" && f.message.id === id;
};

describe("one address flooding a room", () => {
  it("gets 429 with Retry-After while another address in the room keeps posting", async () => {
    const room = "flood-room";
    const stored: string[] = [];
    const first = await postFrom(NEIGHBOUR, room, "first");
    expect(first.status).toBe(201);
    stored.push((JSON.parse(first.body) as Message).id);

    const flood: number[] = [];
    const neighbour: number[] = [];
    let refused: { retryAfter: string | undefined; error: string } | null = null;
    // 2 × limit + 1 from one address: more than the limit falls in one window whatever the clock.
    // The neighbour posts after every fourth, after the flooder's, so it also posts once the flooder is refused.
    for (let i = 0; i < 2 * POST_LIMIT + 1; i++) {
      const res = await postFrom(FLOODER, room, `flood ${i}`);
      flood.push(res.status);
      if (res.status === 201) stored.push((JSON.parse(res.body) as Message).id);
      if (res.status === 429)
        refused ??= {
          retryAfter: res.headers["retry-after"] as string | undefined,
          error: (JSON.parse(res.body) as { error: string }).error,
        };
      if (i % 4 === 0) {
        const mine = await postFrom(NEIGHBOUR, room, `neighbour ${i}`);
        neighbour.push(mine.status);
        if (mine.status === 201) stored.push((JSON.parse(mine.body) as Message).id);
      }
    }
    expect(flood).toContain(429);
    expect(flood.filter((s) => s !== 201 && s !== 429)).toEqual([]);
    expect(refused!.error).toContain("sending too fast");
    expect(Number(refused!.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(refused!.retryAfter)).toBeLessThanOrEqual(10);
    // The neighbour posted after the flooder's first 429 too, and was never refused.
    expect(neighbour).toEqual(Array(neighbour.length).fill(201));
    expect(flood.indexOf(429)).toBeLessThanOrEqual(4 * (neighbour.length - 1));
    // Exactly the accepted messages are in the room; nothing refused was stored.
    expect((await listRoom(room)).map((m) => m.id).sort()).toEqual(stored.sort());
  });
});

describe("50 sockets from one address", () => {
  it("keeps the first 20 open and closes the 21st and later with 4429", async () => {
    const room = "socket-cap-room";
    const opened: BoundSocket[] = [];
    const outcomes: string[] = [];
    for (let i = 0; i < 50; i++) {
      const socket = await socketFrom(FLOODER, room);
      // Its hello or its close, whichever the room sends: one at a time, so the order is the room's.
      outcomes.push(
        await Promise.race([
          socket.next(isHello).then(
            () => "open",
            () => "closed",
          ),
          socket.closed.then(() => "closed"),
        ]),
      );
      opened.push(socket);
    }
    expect(outcomes).toEqual([
      ...Array(PER_CLIENT_SOCKETS).fill("open"),
      ...Array(50 - PER_CLIENT_SOCKETS).fill("closed"),
    ]);
    const first = opened.slice(0, PER_CLIENT_SOCKETS);
    const rest = opened.slice(PER_CLIENT_SOCKETS);
    for (const socket of rest) {
      expect(await socket.closed).toEqual({
        code: TOO_MANY_SOCKETS_CLOSE,
        reason: expect.stringContaining("too many sockets from your address"),
      });
      expect(socket.frames).toEqual([]);
    }
    // The first 20: open, answering pings, and receiving the room's messages.
    const posted = await postFrom(NEIGHBOUR, room, "to everyone still here");
    expect(posted.status).toBe(201);
    const id = (JSON.parse(posted.body) as Message).id;
    for (const socket of first) {
      expect(socket.isClosed()).toBe(false);
      await socket.next(carries(id));
      socket.sendText(PING_FRAME);
      await socket.next((text) => parsed(text).type === "pong");
    }
    // Another address still gets a socket in the same room.
    const other = await socketFrom(NEIGHBOUR, room);
    await other.next(isHello);
  });
});

describe("a junk frame", () => {
  it("closes only its own socket; the others in the room keep receiving", async () => {
    const room = "junk-room";
    const junk = await socketFrom(FLOODER, room);
    const big = await socketFrom(FLOODER, room);
    const bystanders = [
      await socketFrom(NEIGHBOUR, room),
      await socketFrom(NEIGHBOUR, room),
      await socketFrom(FLOODER, room),
    ];
    for (const socket of [junk, big, ...bystanders]) await socket.next(isHello);

    junk.sendText("this is not a frame");
    expect(await junk.closed).toEqual({ code: 1008, reason: "frames must be JSON" });
    big.sendText(JSON.stringify({ type: "ping", pad: "x".repeat(16 * 1024) }));
    expect(await big.closed).toEqual({ code: 1009, reason: "frames must be at most 16384 bytes" });

    const posted = await postFrom(NEIGHBOUR, room, "still here?");
    expect(posted.status).toBe(201);
    const id = (JSON.parse(posted.body) as Message).id;
    for (const socket of bystanders) {
      await socket.next(carries(id));
      expect(socket.isClosed()).toBe(false);
    }
    expect(junk.frames.some(carries(id))).toBe(false);
  });
});

describe("a Stop script", () => {
  it("stops no one else's reply: every stop is refused, then limited, and the reply streams to its end", async () => {
    const room = "stop-script-room";
    const asked = await requestFrom(NEIGHBOUR, `${worker.url}/api/comments`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ room, text: "explain tides", editKey: "neighbours-edit-key-0123456789" }),
    });
    expect(asked.status).toBe(201);
    const question = JSON.parse(asked.body) as Message;
    const asBot = (path: string, body: unknown) =>
      fetch(`${worker.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", "authorization": `Bearer ${worker.botToken}` },
        body: JSON.stringify(body),
      });
    expect((await asBot("/api/bot/claim", { room, messageId: question.id, botId: "flood-bot" })).status).toBe(200);
    const reply = { room, id: newMessageId(), replyTo: question.id, botId: "flood-bot", author: "bot" };
    const streamed = await asBot("/api/bot/stream", { ...reply, offset: 0, delta: "The moon pulls" });
    expect(streamed.status).toBe(200);

    // The script reads every stream from its hello and stops it, over the socket and over HTTP.
    const script = await socketFrom(FLOODER, room);
    const hello = parsed(await script.next(isHello));
    if (hello.type !== "hello") throw new Error("expected a hello");
    expect(hello.streams?.map((s) => s.id)).toEqual([reply.id]);
    script.sendText(JSON.stringify({ type: "stop", id: reply.id }));
    const nack = parsed(await script.next((text) => parsed(text).type === "nack"));
    expect(nack).toMatchObject({ status: 403 });
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    for (let i = 0; i < 25; i++) {
      const res = await requestFrom(FLOODER, `${worker.url}/api/comments/${question.id}/stop`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ room }),
      });
      statuses.push(res.status);
      if (res.status === 429) retryAfter ??= res.headers["retry-after"] as string | undefined;
    }
    expect(new Set(statuses)).toEqual(new Set([403, 429]));
    expect(Number(retryAfter)).toBeGreaterThan(0);

    // The bot hears no Stop and posts the whole reply.
    const more = await asBot("/api/bot/stream", { ...reply, offset: 14, delta: " on the sea." });
    expect(await more.json()).toMatchObject({ have: 26, stop: false });
    const landed = await asBot("/api/comments", { ...reply, kind: "ai", text: "The moon pulls on the sea." });
    expect(landed.status).toBe(201);
    expect(await landed.json()).not.toHaveProperty("stopped");
    expect(script.frames.some((text) => text.includes('"state":"stopping"'))).toBe(false);
  });
});
