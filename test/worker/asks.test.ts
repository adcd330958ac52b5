// What the asker of a question may do with its answer, and the bot's queue: Stop belongs to
// the asker (the question's edit key), a bot or an operator, and is rate-limited; a Stop
// script leaves other people's replies streaming. Regenerate puts a question back in the
// queue and the next reply becomes a new version of the answer (the old one kept), pushed,
// in `since` catch-up, idempotent. Senders take turns in the bot's queue, and a sender's
// open prompts are capped.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ServerFrame } from "../../src/shared/frames";
import { commentKey } from "../../src/shared/keys";
import { newMessageId, type Message, type MessageVersion } from "../../src/shared/message";
import { notQueued, BOT_QUEUE_PER_SENDER } from "../../src/shared/fair-queue";
import { RATE_LIMITS } from "../../src/shared/rate-limits";
import { ADMIN, BOT, call, connect, frameOf, post, postJson, setRoomMode, uniqueRoom } from "./helpers";

const ASKER_KEY = "the-askers-own-key-0123456789";
const OTHER_KEY = "somebody-elses-key-0123456789";

async function askedRoom(prefix: string, headers: Record<string, string> = {}) {
  const room = uniqueRoom(prefix);
  await setRoomMode(room, "do");
  const res = await postJson("/api/comments", { room, text: "explain tides", editKey: ASKER_KEY }, headers);
  expect(res.status).toBe(201);
  return { room, human: await res.json<Message>() };
}

async function claimAndStream(room: string, human: Message, botId: string, text: string): Promise<string> {
  expect((await postJson("/api/bot/claim", { room, messageId: human.id, botId }, BOT)).status).toBe(200);
  const id = newMessageId();
  await streamMore(room, human, botId, id, 0, text);
  return id;
}

async function streamMore(room: string, human: Message, botId: string, id: string, offset: number, delta: string) {
  const body = { room, id, replyTo: human.id, botId, author: "bot (test)", offset, delta };
  const res = await postJson("/api/bot/stream", body, BOT);
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json<{ have: number; stop: boolean }>();
}

async function reply(room: string, human: Message, id: string, text: string, extra: Record<string, unknown> = {}) {
  const body = { room, kind: "ai", id, replyTo: human.id, botId: "asks-bot", author: "bot (test)", text, ...extra };
  return postJson("/api/comments", body, BOT);
}

const stopOver = (room: string, humanId: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  postJson(`/api/comments/${humanId}/stop`, { room, ...body }, headers);

const regenerate = (room: string, humanId: string, body: Record<string, unknown>, headers = {}) =>
  postJson(`/api/comments/${humanId}/regenerate`, { room, ...body }, headers);

async function getMessage(room: string, id: string): Promise<Message> {
  const res = await call(`/api/comments/${id}?room=${room}`);
  expect(res.status).toBe(200);
  return res.json();
}

describe("Stop belongs to the asker", () => {
  it("a Stop script (no key, a wrong key, over the socket and HTTP) changes nothing: the reply streams to the end", async () => {
    const { room, human } = await askedRoom("stop-script");
    const id = await claimAndStream(room, human, "asks-bot", "The moon pulls");
    const script = await connect(room, { "cf-connecting-ip": "198.51.100.7" });
    const hello = await script.next(frameOf("hello"));
    // The script stops every stream its hello lists, with no key and with a guessed one.
    for (const stream of hello.streams ?? []) {
      script.send({ type: "stop", id: stream.id });
      script.send({ type: "stop", id: stream.id, editKey: OTHER_KEY });
    }
    const nacks = await waitFrames(script, 2, (f) => f.type === "nack" && f.id === id);
    for (const nack of nacks) expect(nack).toMatchObject({ status: 403, error: expect.stringContaining("editKey") });
    const anonymous = await stopOver(room, human.id, {}, { "cf-connecting-ip": "198.51.100.7" });
    expect(anonymous.status).toBe(403);
    expect((await stopOver(room, human.id, { editKey: OTHER_KEY })).status).toBe(403);

    // The bot hears no Stop and finishes: the reply lands complete, not stopped.
    expect(await streamMore(room, human, "asks-bot", id, 14, " on the sea.")).toMatchObject({ have: 26, stop: false });
    const landed = await reply(room, human, id, "The moon pulls on the sea.");
    expect(landed.status).toBe(201);
    expect(await landed.json<Message>()).not.toHaveProperty("stopped");
    expect(script.frames.some((f) => f.type === "stream" && f.state === "stopping")).toBe(false);
    script.ws.close();
  });

  it("the asker's key, a bot token or an operator token stop it", async () => {
    for (const [who, body, headers] of [
      ["asker", { editKey: ASKER_KEY }, {}],
      ["bot", {}, BOT],
      ["operator", {}, ADMIN],
    ] as const) {
      const { room, human } = await askedRoom(`stop-${who}`);
      const id = await claimAndStream(room, human, "asks-bot", "Half an answer");
      const res = await stopOver(room, human.id, body, headers);
      expect(res.status, `${who}: ${await res.clone().text()}`).toBe(200);
      expect(await res.json()).toMatchObject({ stopped: 1 });
      expect(await streamMore(room, human, "asks-bot", id, 14, "")).toMatchObject({ have: 14, stop: true });
    }
  });

  it("is rate-limited per client: past STOP_LIMITER a client gets 429 with Retry-After", async () => {
    const { room, human } = await askedRoom("stop-limit");
    await claimAndStream(room, human, "asks-bot", "Going on");
    const ip = { "cf-connecting-ip": "198.51.100.99" };
    const statuses: number[] = [];
    for (let i = 0; i < RATE_LIMITS.STOP_LIMITER.limit * 2 + 1; i++) {
      statuses.push((await stopOver(room, human.id, { editKey: OTHER_KEY }, ip)).status);
    }
    expect(statuses).toContain(403);
    const limited = await stopOver(room, human.id, { editKey: ASKER_KEY }, ip);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    // Refused, so still streaming: another client (the asker elsewhere) still may stop it.
    expect(
      (await stopOver(room, human.id, { editKey: ASKER_KEY }, { "cf-connecting-ip": "198.51.100.3" })).status,
    ).toBe(200);
  });
});

describe("regenerate", () => {
  it("puts the question back in the queue; the next reply is a new version of the answer, the old one kept", async () => {
    const { room, human } = await askedRoom("regen");
    const first = newMessageId();
    expect((await postJson("/api/bot/claim", { room, messageId: human.id, botId: "asks-bot" }, BOT)).status).toBe(200);
    expect((await reply(room, human, first, "Tides come from the sun.", { stopped: true })).status).toBe(201);
    const before = await getMessage(room, human.id);
    const watcher = await connect(room);
    await watcher.next(frameOf("hello"));

    // Somebody else may not; the asker may, once per request id.
    expect((await regenerate(room, human.id, { requestId: "request-0001", editKey: OTHER_KEY })).status).toBe(403);
    expect((await regenerate(room, human.id, { requestId: "request-0001" })).status).toBe(403);
    expect((await getMessage(room, human.id)).status).toBe("complete");
    const asked = await regenerate(room, human.id, { requestId: "request-0001", editKey: ASKER_KEY });
    expect(asked.status, await asked.clone().text()).toBe(200);
    const reopened = await asked.json<Message>();
    expect(reopened).toMatchObject({ id: human.id, status: "pending" });
    expect(reopened.pos!).toBeGreaterThan(before.pos!);
    const again = await regenerate(room, human.id, { requestId: "request-0001", editKey: ASKER_KEY });
    expect((await again.json<Message>()).pos).toBe(reopened.pos);
    expect((await regenerate(room, human.id, { requestId: "request-0002", editKey: ASKER_KEY })).status).toBe(409);

    // Pushed, in catch-up, and in the bot's queue.
    await watcher.next((f): f is ServerFrame => f.type === "update" && f.message.id === human.id);
    const since = await call(`/api/comments?room=${room}&since=${before.pos}`);
    expect((await since.json<{ comments: Message[] }>()).comments.map((m) => [m.id, m.status])).toEqual([
      [human.id, "pending"],
    ]);
    const pending = await call(`/api/bot/pending?room=${room}`, { headers: BOT });
    expect((await pending.json<{ pending: Message[] }>()).pending.map((m) => m.id)).toEqual([human.id]);

    // The next reply lands as the answer's version 2; a retried post of it changes nothing more.
    const second = await claimAndStream(room, human, "asks-bot", "Tides come");
    const landed = await reply(room, human, second, "Tides come from the moon.");
    expect(landed.status).toBe(201);
    expect(await landed.json<Message>()).toMatchObject({ id: first, version: 2, text: "Tides come from the moon." });
    const retried = await reply(room, human, second, "Tides come from the moon.");
    expect(retried.status).toBe(200);
    expect(await retried.json<Message>()).toMatchObject({ id: first, version: 2 });
    const answer = await getMessage(room, first);
    expect(answer).toMatchObject({ text: "Tides come from the moon.", version: 2 });
    expect(answer).not.toHaveProperty("stopped");
    expect((await getMessage(room, human.id)).status).toBe("complete");
    const versions = await call(`/api/comments/${first}/versions?room=${room}`);
    const history = await versions.json<{ versions: MessageVersion[] }>();
    expect(history.versions.map((v) => [v.version, v.text])).toEqual([[1, "Tides come from the sun."]]);
    // One AI message in the room: the answer, never a second row.
    const listed = await call(`/api/comments?room=${room}`);
    expect((await listed.json<{ comments: Message[] }>()).comments.filter((m) => m.kind === "ai")).toHaveLength(1);
    // Viewers saw the stream end and the answer's new version.
    await watcher.next((f): f is ServerFrame => f.type === "stream" && f.id === second && f.state === "ended");
    await watcher.next((f): f is ServerFrame => f.type === "update" && f.message.id === first);
    // KV learns both through the outbox.
    await until(async () => (await env.CHAT_KV.get<Message>(commentKey(room, first), "json"))?.version === 2);
    await until(
      async () => (await env.CHAT_KV.get<Message>(commentKey(room, human.id), "json"))?.status === "complete",
    );
    watcher.ws.close();
  });

  it("an operator may ask again for a failed question; a reply id is refused as the target", async () => {
    const { room, human } = await askedRoom("regen-failed");
    expect((await postJson("/api/bot/claim", { room, messageId: human.id, botId: "asks-bot" }, BOT)).status).toBe(200);
    const failed = { room, messageId: human.id, botId: "asks-bot", reason: "model down" };
    expect((await postJson("/api/bot/fail", failed, BOT)).status).toBe(200);
    expect((await regenerate(room, human.id, { requestId: "operator-01" }, BOT)).status).toBe(403);
    const asked = await regenerate(room, human.id, { requestId: "operator-01" }, ADMIN);
    expect(await asked.json<Message>()).toMatchObject({ status: "pending" });
    expect(await getMessage(room, human.id)).not.toHaveProperty("error");
    const first = newMessageId();
    expect((await postJson("/api/bot/claim", { room, messageId: human.id, botId: "asks-bot" }, BOT)).status).toBe(200);
    expect((await reply(room, human, first, "Now it works.")).status).toBe(201);
    expect((await regenerate(room, first, { requestId: "operator-02" }, ADMIN)).status).toBe(400);
    // An answer an operator deleted is not brought back as a new version.
    expect((await call(`/api/admin/messages/${first}?room=${room}`, { method: "DELETE", headers: ADMIN })).status).toBe(
      200,
    );
    const deleted = await regenerate(room, human.id, { requestId: "operator-03" }, ADMIN);
    expect(deleted.status).toBe(410);
    expect((await getMessage(room, human.id)).status).toBe("complete");
  });

  it("refuses bad input with 4xx and changes nothing; kv rooms answer 409", async () => {
    const { room, human } = await askedRoom("regen-bad");
    const pos = (await getMessage(room, human.id)).pos;
    for (const body of [{}, { requestId: "x" }, { requestId: "ok-request-1", editKey: "short" }, { requestId: 5 }]) {
      expect((await regenerate(room, human.id, body)).status).toBe(400);
    }
    expect((await regenerate(room, newMessageId(), { requestId: "ok-request-1", editKey: ASKER_KEY })).status).toBe(
      404,
    );
    expect((await getMessage(room, human.id)).pos).toBe(pos);
    const kvRoom = uniqueRoom("regen-kv");
    await setRoomMode(kvRoom, "kv");
    const kvHuman = await post(kvRoom, "old path", { editKey: ASKER_KEY });
    expect((await regenerate(kvRoom, kvHuman.id, { requestId: "ok-request-1", editKey: ASKER_KEY })).status).toBe(409);
  });
});

describe("the bot's queue", () => {
  it("takes senders in turn, oldest first within a turn", async () => {
    const room = uniqueRoom("fair-turns");
    await setRoomMode(room, "do");
    const flooder = { "cf-connecting-ip": "203.0.113.50" };
    const other = { "cf-connecting-ip": "203.0.113.51" };
    const texts = ["a1", "a2", "a3"];
    for (const text of texts) expect((await postJson("/api/comments", { room, text }, flooder)).status).toBe(201);
    expect((await postJson("/api/comments", { room, text: "b1" }, other)).status).toBe(201);
    expect((await postJson("/api/comments", { room, text: "a4" }, flooder)).status).toBe(201);
    const pending = await call(`/api/bot/pending?room=${room}`, { headers: BOT });
    const queue = (await pending.json<{ pending: Message[] }>()).pending;
    expect(queue.map((m) => m.text)).toEqual(["a1", "b1", "a2", "a3", "a4"]);
    // A prompt being answered still takes its sender's turn: b1 comes before a2.
    const a1 = queue[0]!;
    expect((await postJson("/api/bot/claim", { room, messageId: a1.id, botId: "asks-bot" }, BOT)).status).toBe(200);
    const next = await call(`/api/bot/pending?room=${room}`, { headers: BOT });
    expect((await next.json<{ pending: Message[] }>()).pending.map((m) => m.text)).toEqual(["b1", "a2", "a3", "a4"]);
    // Answered, a1 still counts: the sender just served waits behind the one who was not.
    expect((await reply(room, a1, newMessageId(), "answer to a1")).status).toBe(201);
    const after = await call(`/api/bot/pending?room=${room}`, { headers: BOT });
    expect((await after.json<{ pending: Message[] }>()).pending.map((m) => m.text)).toEqual(["b1", "a2", "a3", "a4"]);
    const b1 = queue[1]!;
    expect((await postJson("/api/bot/claim", { room, messageId: b1.id, botId: "asks-bot" }, BOT)).status).toBe(200);
    expect((await reply(room, b1, newMessageId(), "answer to b1")).status).toBe(201);
    expect((await postJson("/api/comments", { room, text: "b2" }, other)).status).toBe(201);
    const later = await call(`/api/bot/pending?room=${room}`, { headers: BOT });
    expect((await later.json<{ pending: Message[] }>()).pending.map((m) => m.text)).toEqual(["a2", "b2", "a3", "a4"]);
  });

  it("caps a sender's open prompts: past the cap a message still posts, marked not queued; others are not capped", async () => {
    const room = uniqueRoom("fair-cap");
    await setRoomMode(room, "do");
    const flooder = { "cf-connecting-ip": "203.0.113.60" };
    const posted: Message[] = [];
    for (let i = 0; i <= BOT_QUEUE_PER_SENDER; i++) {
      const res = await postJson("/api/comments", { room, text: `prompt ${i}` }, flooder);
      expect(res.status).toBe(201);
      posted.push(await res.json());
    }
    expect(posted.slice(0, -1).every((m) => m.status === "pending")).toBe(true);
    expect(posted.at(-1)).toMatchObject({ status: "failed", error: notQueued(BOT_QUEUE_PER_SENDER) });
    const neighbour = await postJson("/api/comments", { room, text: "mine" }, { "cf-connecting-ip": "203.0.113.61" });
    expect(await neighbour.json<Message>()).toMatchObject({ status: "pending" });
    const pending = await call(`/api/bot/pending?room=${room}`, { headers: BOT });
    expect((await pending.json<{ pending: Message[] }>()).pending).toHaveLength(BOT_QUEUE_PER_SENDER + 1);
    // Over a socket too.
    const socket = await connect(room, flooder);
    await socket.next(frameOf("hello"));
    const id = newMessageId();
    socket.send({ type: "send", id, text: "one more" });
    expect(await socket.answer(id)).toMatchObject({ type: "ack", message: { status: "failed" } });
    socket.ws.close();
  });
});

async function waitFrames(
  socket: Awaited<ReturnType<typeof connect>>,
  count: number,
  match: (f: ServerFrame) => boolean,
): Promise<ServerFrame[]> {
  await until(async () => socket.frames.filter(match).length >= count);
  return socket.frames.filter(match);
}

/** Polls `check` until it holds (KV and frames arrive after the answer); fails after 5 s. */
async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("condition not met within 5 s");
}
