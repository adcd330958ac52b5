// Bots as operator-managed identities: the token's bot is the only identity a bot call has,
// mentions and a room's default decide which bot may take a message, two bots racing on one
// room answer each message once, revoked and rotated tokens stop working, tokens are counted.
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Control } from "../../src/control/control";
import type { Room } from "../../src/room/room";
import { LOCAL_FLUSH_MS } from "../../src/control/stats";
import type { BotRoomsResponse, StatsResponse } from "../../src/shared/api";
import type { BotsResponse, BotTokenResponse } from "../../src/shared/bots";
import type { Message } from "../../src/shared/message";
import { ADMIN, BOT, call, connect, frameOf, list, post, postJson, uniqueRoom } from "./helpers";
import { outboxDrained } from "./probes";

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
let bots = 0;
const botName = (prefix: string) => `${prefix}${Date.now().toString(36)}${(bots++).toString(36)}`;

async function createBot(rooms: string[] | "all", name = botName("b"), model = "llama3.2:1b") {
  const res = await postJson("/api/admin/bots", { name, model, rooms }, ADMIN);
  expect(res.status).toBe(201);
  const body = await res.json<BotTokenResponse>();
  return { name, token: body.token, auth: bearer(body.token) };
}

type Bot = Awaited<ReturnType<typeof createBot>>;

const claim = (bot: { auth: Record<string, string> }, message: Message, extra: Record<string, unknown> = {}) =>
  postJson("/api/bot/claim", { messageId: message.id, room: message.room, ...extra }, bot.auth);
const reply = (bot: Bot, human: Message, extra: Record<string, unknown> = {}) =>
  postJson(
    "/api/comments",
    { kind: "ai", room: human.room, replyTo: human.id, text: `answer from ${bot.name}`, author: bot.name, ...extra },
    bot.auth,
  );
async function pending(bot: Bot, room: string): Promise<Message[]> {
  const res = await call(`/api/bot/pending?room=${room}`, { headers: bot.auth });
  expect(res.status).toBe(200);
  return (await res.json<{ pending: Message[] }>()).pending;
}
const get = async (room: string, id: string) => (await list(room)).find((m) => m.id === id)!;

describe("bot identities", () => {
  it("answers the token once; Control keeps only its SHA-256; bad input and duplicates change nothing", async () => {
    const room = uniqueRoom("ident");
    const bot = await createBot([room]);
    expect(bot.token).toMatch(/^[A-Za-z0-9_-]{43}$/); // 256 random bits
    const rows = await runInDurableObject(env.CONTROL.getByName("global"), (_: Control, state) =>
      state.storage.sql.exec(`SELECT * FROM bots WHERE name = ?`, bot.name).toArray(),
    );
    const hash = [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(bot.token)))]
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("");
    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_hash).toBe(hash);
    expect(JSON.stringify(rows)).not.toContain(bot.token);

    const listed = async () => (await (await call("/api/admin/bots", { headers: ADMIN })).json<BotsResponse>()).bots;
    const before = await listed();
    expect(before.find((b) => b.name === bot.name)).toMatchObject({ model: "llama3.2:1b", rooms: [room] });
    expect(JSON.stringify(before)).not.toContain(hash);
    const refusals = [
      await postJson("/api/admin/bots", { name: "x", model: "m", rooms: [room] }, BOT),
      await postJson("/api/admin/bots", { name: "Bad Name", model: "m", rooms: [room] }, ADMIN),
      await postJson("/api/admin/bots", { name: "ok-name", model: "m", rooms: [] }, ADMIN),
      await postJson("/api/admin/bots", { name: "bot", model: "m", rooms: "all" }, ADMIN),
      await postJson("/api/admin/bots", { name: bot.name, model: "other", rooms: "all" }, ADMIN),
    ];
    expect(refusals.map((r) => r.status)).toEqual([401, 400, 400, 400, 409]);
    expect(await listed()).toEqual(before);
  });

  it("the token's bot is the only identity: a body botId naming another bot is refused, claims are bound", async () => {
    const room = uniqueRoom("bound");
    const [a, b] = [await createBot([room]), await createBot([room])];
    const me = await (await call("/api/bot/me", { headers: a.auth })).json();
    expect(me).toEqual({ name: a.name, model: "llama3.2:1b", rooms: [room], legacy: false });
    const human = await post(room, "who am I talking to?");

    // Posing as b with a's token, or as a registered bot with the legacy token: 403, nothing claimed.
    expect((await claim(a, human, { botId: b.name })).status).toBe(403);
    expect((await claim({ auth: BOT }, human, { botId: a.name })).status).toBe(403);
    expect((await get(room, human.id)).status).toBe("pending");

    const claimed = await claim(a, human);
    expect(claimed.status).toBe(200);
    expect((await claimed.json<{ message: Message }>()).message.claimedBy).toBe(a.name);
    // b cannot renew, release, fail, stream or answer a's claim.
    const stream = { room, id: `${Date.now()}-bstream`, replyTo: human.id, author: b.name, offset: 0, delta: "hi" };
    const b409 = [
      await claim(b, human),
      await postJson("/api/bot/release", { messageId: human.id, room }, b.auth),
      await postJson("/api/bot/fail", { messageId: human.id, room, reason: "mine now" }, b.auth),
      await postJson("/api/bot/stream", stream, b.auth),
      await reply(b, human),
    ];
    expect(b409.map((r) => r.status)).toEqual([409, 409, 409, 409, 409]);
    expect(await get(room, human.id)).toMatchObject({ status: "processing", claimedBy: a.name });
    // Its own name in the body is accepted; the reply lands.
    expect((await claim(a, human, { botId: a.name })).status).toBe(200);
    expect((await reply(a, human)).status).toBe(201);
    expect((await get(room, human.id)).status).toBe("complete");
  });

  it("a registered bot's own token: the watch list holds only its rooms; it may Stop replies there only", async () => {
    const [roomA, roomB] = [uniqueRoom("watch-a"), uniqueRoom("watch-b")];
    const [a, b] = [await createBot([roomA]), await createBot([roomB])];
    const human = await post(roomA, "a question for a");
    await post(roomB, "a question for b");
    await Promise.all([outboxDrained(roomA), outboxDrained(roomB)]);
    const watched = async (bot: Bot) => {
      const res = await call("/api/bot/rooms?limit=1000", { headers: bot.auth });
      expect(res.status).toBe(200);
      return (await res.json<BotRoomsResponse>()).rooms.map((r) => r.name);
    };
    expect(await watched(a)).toContain(roomA);
    expect(await watched(a)).not.toContain(roomB);
    expect(await watched(b)).toContain(roomB);
    expect(await watched(b)).not.toContain(roomA);
    expect((await call("/api/bot/rooms", { headers: bearer("not-a-token-of-anyone") })).status).toBe(401);

    expect((await claim(a, human)).status).toBe(200);
    const stream = {
      room: roomA,
      id: `${Date.now()}-astream`,
      replyTo: human.id,
      author: a.name,
      offset: 0,
      delta: "hm",
    };
    expect((await postJson("/api/bot/stream", stream, a.auth)).status).toBe(200);
    const stop = (bot: Bot) => postJson(`/api/comments/${human.id}/stop`, { room: roomA }, bot.auth);
    expect((await stop(b)).status).toBe(403);
    const stopped = await stop(a);
    expect(stopped.status).toBe(200);
    expect(await stopped.json()).toMatchObject({ stopped: 1 });
  });

  it("bot calls and wrong tokens cost no Control call each (the book is cached per isolate)", async () => {
    const room = uniqueRoom("cached");
    const bot = await createBot([room]);
    const controlRequests = async () =>
      (await (await call("/api/admin/stats", { headers: ADMIN })).json<StatsResponse>()).usage!.control.requests;
    await pending(bot, room);
    await call(`/api/bot/pending?room=${room}`, { headers: bearer("a-guess") });
    const before = await controlRequests();
    for (let i = 0; i < 10; i++) {
      const human = await post(room, `q${i}`);
      expect((await claim(bot, human)).status).toBe(200);
      expect((await reply(bot, human)).status).toBe(201);
      expect((await call(`/api/bot/pending?room=${room}`, { headers: bearer(`guess-${i}`) })).status).toBe(401);
    }
    // 40 bot calls: at most the one refresh unknown tokens may cause every 5 s.
    expect((await controlRequests()) - before).toBeLessThanOrEqual(1);
  });

  it("a bot may not work in a room it does not serve (403)", async () => {
    const [mine, other] = [uniqueRoom("served"), uniqueRoom("unserved")];
    const bot = await createBot([mine]);
    const human = await post(other, "not for that bot");
    expect((await call(`/api/bot/pending?room=${other}`, { headers: bot.auth })).status).toBe(403);
    expect((await claim(bot, human)).status).toBe(403);
    expect((await get(other, human.id)).status).toBe("pending");
  });

  it("a revoked token answers 401; a rotated token's old value too, its new one works", async () => {
    const room = uniqueRoom("revoke");
    const bot = await createBot([room]);
    const human = await post(room, "hello?");
    expect((await pending(bot, room)).map((m) => m.id)).toEqual([human.id]);

    const rotated = await postJson(`/api/admin/bots/${bot.name}/rotate`, {}, ADMIN);
    expect(rotated.status).toBe(200);
    const { token } = await rotated.json<BotTokenResponse>();
    expect(token).not.toBe(bot.token);
    expect((await call(`/api/bot/pending?room=${room}`, { headers: bot.auth })).status).toBe(401);
    const renewed = { ...bot, auth: bearer(token) };
    expect((await pending(renewed, room)).length).toBe(1);

    expect((await call(`/api/admin/bots/${bot.name}`, { method: "DELETE", headers: ADMIN })).status).toBe(200);
    expect((await call(`/api/bot/pending?room=${room}`, { headers: renewed.auth })).status).toBe(401);
    expect((await claim(renewed, human)).status).toBe(401);
    expect((await get(room, human.id)).status).toBe("pending");
    expect((await call(`/api/admin/bots/${bot.name}`, { method: "DELETE", headers: ADMIN })).status).toBe(404);
  });
});

describe("addressing", () => {
  it("a mention routes to its bot; an unmentioned message to the room's default; presence names the bots", async () => {
    const room = uniqueRoom("mention");
    const [a, b] = [await createBot([room], botName("ann")), await createBot("all", botName("bob"))];
    const forB = await post(room, `@${b.name} what is 2+2?`);
    const anyone = await post(room, "anyone there?");

    expect((await pending(a, room)).map((m) => m.id)).toEqual([anyone.id]);
    expect((await pending(b, room)).map((m) => m.id)).toEqual([forB.id, anyone.id]);
    const refused = await claim(a, forB);
    expect(refused.status).toBe(409);
    expect((await refused.json<{ error: string }>()).error).toContain(`@${b.name}`);
    expect((await get(room, forB.id)).status).toBe("pending");
    expect((await claim(b, forB)).status).toBe(200);

    // The operator makes a the default: b may no longer take unmentioned messages.
    const set = await call(`/api/admin/rooms/${room}/bots`, {
      method: "PUT",
      headers: { ...ADMIN, "content-type": "application/json" },
      body: JSON.stringify({ defaultBot: a.name }),
    });
    expect(set.status).toBe(200);
    expect(await set.json()).toMatchObject({ pushed: [room], failed: [] });
    expect((await pending(b, room)).map((m) => m.id)).toEqual([]);
    expect((await claim(b, anyone)).status).toBe(409);
    expect((await claim(a, anyone)).status).toBe(200);

    const socket = await connect(room);
    const hello = await socket.next(frameOf("hello"));
    // b serves every room: the push named it too.
    expect(hello.presence?.serving).toEqual([
      { name: a.name, model: "llama3.2:1b", default: true },
      { name: b.name, model: "llama3.2:1b" },
    ]);
    socket.ws.close();
  });

  it("past UNCLAIMED_GRACE_MS only the addressed bot may answer or fail a message it never claimed", async () => {
    const room = uniqueRoom("grace");
    const [a, b] = [await createBot([room]), await createBot([room])];
    const human = await post(room, `@${a.name} are you there?`);
    await runInDurableObject(env.ROOM.getByName(room), (_: Room, state) => {
      state.storage.sql.exec(
        "UPDATE messages SET created_at = ? WHERE id = ?",
        Date.now() - Number(env.UNCLAIMED_GRACE_MS) - 1,
        human.id,
      );
    });
    const failed = await postJson("/api/bot/fail", { messageId: human.id, room, reason: "mine" }, b.auth);
    expect([failed.status, (await reply(b, human)).status]).toEqual([409, 409]);
    expect((await get(room, human.id)).status).toBe("pending");
    expect((await reply(a, human)).status).toBe(201);
  });

  it("refuses a default bot that does not serve the room, changing nothing", async () => {
    const [room, elsewhere] = [uniqueRoom("default"), uniqueRoom("elsewhere")];
    const bot = await createBot([elsewhere]);
    const res = await call(`/api/admin/rooms/${room}/bots`, {
      method: "PUT",
      headers: { ...ADMIN, "content-type": "application/json" },
      body: JSON.stringify({ defaultBot: bot.name }),
    });
    expect(res.status).toBe(400);
    const { defaults } = await (await call("/api/admin/bots", { headers: ADMIN })).json<BotsResponse>();
    expect(defaults[room]).toBeUndefined();
  });

  it("two bots racing on 200 messages answer each exactly once, mentions by their bot", async () => {
    const room = uniqueRoom("race");
    const [a, b] = [await createBot([room]), await createBot([room])];
    const texts = Array.from({ length: 200 }, (_, i) =>
      i % 4 === 0 ? `@${a.name} q${i}` : i % 4 === 1 ? `@${b.name} q${i}` : `q${i}`,
    );
    const humans = await Promise.all(texts.map((text) => post(room, text)));

    // Every reply the room took (201), by the human message it answers.
    const answeredBy = new Map<string, string[]>();
    async function work(bot: Bot): Promise<void> {
      for (;;) {
        const open = await pending(bot, room);
        if (!open.length) return;
        for (const message of open) {
          if ((await claim(bot, message)).status !== 200) continue;
          const res = await reply(bot, message);
          expect(res.status).toBe(201);
          answeredBy.set(message.id, [...(answeredBy.get(message.id) ?? []), bot.name]);
        }
      }
    }
    await Promise.all([work(a), work(b)]);

    expect(answeredBy.size).toBe(200);
    for (const [i, human] of humans.entries()) {
      const by = answeredBy.get(human.id)!;
      expect(by).toHaveLength(1);
      if (i % 4 === 0) expect(by).toEqual([a.name]);
      if (i % 4 === 1) expect(by).toEqual([b.name]);
    }
    // Both took part in the unmentioned half, and the room agrees every message is answered.
    const names = [...answeredBy.values()].map(([name]) => name);
    expect(new Set(names)).toEqual(new Set([a.name, b.name]));
    const records = await Promise.all(
      humans.map(async (h) => (await call(`/api/comments/${h.id}?room=${room}`)).json<Message>()),
    );
    expect(records.every((r) => r.status === "complete")).toBe(true);
    expect(await pending(a, room)).toEqual([]);
  });

  it("counts each bot's replies, failures and tokens in the stats store, shown in the bots list", async () => {
    const room = uniqueRoom("tokens");
    const bot = await createBot([room]);
    const [first, second] = [await post(room, "one"), await post(room, "two")];
    expect((await claim(bot, first)).status).toBe(200);
    expect((await reply(bot, first, { usage: { promptTokens: 120, replyTokens: 30 } })).status).toBe(201);
    expect((await claim(bot, second)).status).toBe(200);
    const failed = await postJson("/api/bot/fail", { messageId: second.id, room, reason: "model down" }, bot.auth);
    expect(failed.status).toBe(200);
    // A human message cannot carry token counts.
    expect(
      (await postJson("/api/comments", { room, text: "hi", usage: { promptTokens: 1, replyTokens: 1 } })).status,
    ).toBe(400);

    let entry: BotsResponse["bots"][number] | undefined;
    for (const deadline = Date.now() + 3 * LOCAL_FLUSH_MS; Date.now() < deadline;) {
      const body = await (await call("/api/admin/bots", { headers: ADMIN })).json<BotsResponse>();
      entry = body.bots.find((b) => b.name === bot.name);
      if (entry?.answered === 1 && entry.failed === 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(entry).toMatchObject({ answered: 1, failed: 1, tokensIn: 120, tokensOut: 30 });
    expect(entry!.lastSeen).toBeGreaterThan(Date.now() - 3 * 60_000);
  });
});
