// Bot calls: pending list, leases, one reply per message (do mode), failure marking.
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { LOCAL_FLUSH_MS } from "../../src/control/stats";
import type { Room, RoomInspection } from "../../src/room/room";
import { MODEL_UNAVAILABLE, type Message } from "../../src/shared/message";
import { ADMIN, BOT, call, list, post, postJson, setRoomMode, uniqueRoom } from "./helpers";

// Bots name the message's room: records are kept per room, so an id alone finds only a legacy record.
const claim = (human: Message, botId: string) =>
  postJson("/api/bot/claim", { messageId: human.id, room: human.room, botId }, BOT);
const reply = (human: Message, botId: string, text = "an answer", id?: string) =>
  postJson(
    "/api/comments",
    { kind: "ai", room: human.room, replyTo: human.id, botId, text, author: "bot", ...(id ? { id } : {}) },
    BOT,
  );
const pending = async (room: string) =>
  (await (await call(`/api/bot/pending?room=${room}`, { headers: BOT })).json<{ pending: Message[] }>()).pending;

describe.each(["kv", "do"] as const)("bot flow in %s mode", (mode) => {
  it("lists pending messages, claims, replies and completes the human message", async () => {
    const room = uniqueRoom(`bot-${mode}`);
    await setRoomMode(room, mode);
    const human = await post(room, "question?");
    expect((await pending(room)).map((m) => m.id)).toEqual([human.id]);

    const claimed = await claim(human, "bot-a");
    expect(claimed.status).toBe(200);
    expect(claimed.headers.get("X-Cache-Mode")).toBe(mode);
    const body = await claimed.json<{ message: Message; leaseUntil: number }>();
    expect(body.message.status).toBe("processing");
    expect(body.leaseUntil).toBeGreaterThan(Date.now());
    expect(await pending(room)).toEqual([]);

    const answer = await reply(human, "bot-a");
    expect(answer.status).toBe(201);
    const ai = await answer.json<Message>();
    expect(ai).toMatchObject({ kind: "ai", replyTo: human.id, room, status: "complete" });
    const messages = await list(room);
    expect(messages.find((m) => m.id === human.id)?.status).toBe("complete");
    expect(messages.find((m) => m.id === ai.id)).toBeDefined();
    const record = await (await call(`/api/comments/${human.id}?room=${room}&record=1`)).json<Message>();
    expect(record.status).toBe("complete");
  });

  it("refuses a claim held by another bot with 409, lets the holder renew, and frees it on release", async () => {
    const room = uniqueRoom(`lease-${mode}`);
    await setRoomMode(room, mode);
    const human = await post(room, "who answers?");
    expect((await claim(human, "bot-a")).status).toBe(200);
    const taken = await claim(human, "bot-b");
    expect(taken.status).toBe(409);
    expect(taken.headers.get("X-Cache-Mode")).toBe(mode);
    expect((await taken.json<{ error: string }>()).error).toContain("claimed by bot-a");
    expect((await claim(human, "bot-a")).status).toBe(200);
    expect((await postJson("/api/bot/release", { messageId: human.id, room, botId: "bot-a" }, BOT)).status).toBe(200);
    expect((await pending(room)).map((m) => m.id)).toEqual([human.id]);
    expect((await claim(human, "bot-b")).status).toBe(200);
  });

  it("refuses a reply that names another room than the message's, changing nothing", async () => {
    const room = uniqueRoom(`wrong-room-${mode}`);
    await setRoomMode(room, mode);
    const human = await post(room, "here");
    const res = await postJson(
      "/api/comments",
      { kind: "ai", replyTo: human.id, room: "elsewhere", botId: "bot-a", text: "there" },
      BOT,
    );
    // The named room is the one asked (in do mode, without any KV lookup): it has no such message.
    expect(res.status).toBe(404);
    expect((await res.json<{ error: string }>()).error).toContain("replyTo: message not found");
    expect((await list(room)).map((m) => m.id)).toEqual([human.id]);
  });

  it("marks a message failed: viewers see the model is unavailable, operators the bot's reason", async () => {
    const room = uniqueRoom(`fail-${mode}`);
    await setRoomMode(room, mode);
    const human = await post(room, "unanswerable");
    await claim(human, "bot-a");
    const res = await postJson(
      "/api/bot/fail",
      { messageId: human.id, room, botId: "bot-a", reason: "model timed out 3 times" },
      BOT,
    );
    expect(res.status).toBe(200);
    expect(JSON.stringify(await res.json())).not.toContain("timed out");
    const shown = (await list(room)).find((m) => m.id === human.id)!;
    expect(shown).toMatchObject({ status: "failed", error: MODEL_UNAVAILABLE });
    if (mode === "do") {
      const inspected = await (await call(`/api/admin/rooms/${room}`, { headers: ADMIN })).json<RoomInspection>();
      expect(inspected.failures).toEqual([
        { id: human.id, botId: "bot-a", at: expect.any(Number), detail: "model timed out 3 times" },
      ]);
    }
    expect(await pending(room)).toEqual([]);
  });

  it("refuses to mark failed a message the bot never claimed, or one another bot holds", async () => {
    const room = uniqueRoom(`fail-unclaimed-${mode}`);
    await setRoomMode(room, mode);
    const human = await post(room, "mine to answer");
    const fail = (botId: string) => postJson("/api/bot/fail", { messageId: human.id, room, botId, reason: "no" }, BOT);
    const unclaimed = await fail("bot-b");
    expect(unclaimed.status).toBe(409);
    expect((await unclaimed.json<{ error: string }>()).error).toBe("claim the message before marking it failed");
    await claim(human, "bot-a");
    expect((await fail("bot-b")).status).toBe(409);
    expect((await list(room)).find((m) => m.id === human.id)?.status).toBe("processing");
  });
});

describe("change positions in do mode", () => {
  it("every change takes the next position, so `since` returns claims, completions and failures a client missed", async () => {
    const room = uniqueRoom("positions");
    await setRoomMode(room, "do");
    const [answered, failing] = [await post(room, "to answer"), await post(room, "to fail")];
    const since = failing.pos!;
    const changed = async () =>
      await (await call(`/api/comments?room=${room}&since=${since}`)).json<{ comments: Message[]; lastSeq: number }>();
    expect((await changed()).comments).toEqual([]);
    await postJson("/api/bot/claim", { messageId: answered.id, room, botId: "bot-a" }, BOT);
    expect((await changed()).comments.map((m) => [m.id, m.status])).toEqual([[answered.id, "processing"]]);
    await postJson("/api/bot/claim", { messageId: failing.id, room, botId: "bot-a" }, BOT);
    await postJson("/api/bot/fail", { messageId: failing.id, room, botId: "bot-a", reason: "gave up" }, BOT);
    const reply = await (
      await postJson("/api/comments", { kind: "ai", room, replyTo: answered.id, botId: "bot-a", text: "done" }, BOT)
    ).json<Message>();
    const after = await changed();
    // Current state of everything changed after `since`, in change order, each once.
    expect(after.comments.map((m) => [m.id, m.status])).toEqual([
      [failing.id, "failed"],
      [reply.id, "complete"],
      [answered.id, "complete"],
    ]);
    expect(after.lastSeq).toBe(after.comments.at(-1)!.pos);
  });
});

describe("bot leases in do mode", () => {
  it("lets any bot mark failed a message left unclaimed past UNCLAIMED_GRACE_MS", async () => {
    const room = uniqueRoom("fail-grace");
    await setRoomMode(room, "do");
    const human = await post(room, "nobody came");
    // The room's own clock and log decide: age the message past the grace.
    await runInDurableObject(env.ROOM.getByName(room), (_: Room, state) => {
      state.storage.sql.exec(
        "UPDATE messages SET created_at = ? WHERE id = ?",
        Date.now() - Number(env.UNCLAIMED_GRACE_MS) - 1,
        human.id,
      );
    });
    const res = await postJson(
      "/api/bot/fail",
      { messageId: human.id, room, botId: "sweeper", reason: "unanswered" },
      BOT,
    );
    expect(res.status).toBe(200);
    expect((await res.json<{ message: Message }>()).message).toMatchObject({
      status: "failed",
      error: MODEL_UNAVAILABLE,
    });
  });

  it("grants exactly one of 20 concurrent claims", async () => {
    const room = uniqueRoom("claim-race");
    await setRoomMode(room, "do");
    const human = await post(room, "race me");
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => claim(human, `bot-${i}`)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(19);
  });

  it("accepts one reply per message: a second bot's reply gets 409, a retried post returns the first", async () => {
    const room = uniqueRoom("one-reply");
    await setRoomMode(room, "do");
    const human = await post(room, "only once");
    const id = `${Date.now()}-reply01`;
    const unclaimed = await reply(human, "bot-a", "first", id);
    expect(unclaimed.status).toBe(409);
    expect((await unclaimed.json<{ error: string }>()).error).toBe("claim the message before answering it");
    expect((await claim(human, "bot-a")).status).toBe(200);
    const first = await reply(human, "bot-a", "first", id);
    expect(first.status).toBe(201);
    const retried = await reply(human, "bot-a", "first", id);
    expect(retried.status).toBe(200);
    const second = await reply(human, "bot-b", "second");
    expect(second.status).toBe(409);
    expect((await second.json<{ error: string }>()).error).toContain(`already answered by ${id}`);
    expect((await list(room)).filter((m) => m.kind === "ai")).toHaveLength(1);
  });

  it("hands an expired lease to another bot", async () => {
    const room = uniqueRoom("expiry");
    await setRoomMode(room, "do");
    const human = await post(room, "slow bot");
    expect((await claim(human, "crashed-bot")).status).toBe(200);
    expect(await pending(room)).toEqual([]);
    // The room's own clock decides expiry: move the lease into the past as 11 minutes would.
    await runInDurableObject(env.ROOM.getByName(room), (_: Room, state) => {
      state.storage.sql.exec("UPDATE messages SET lease_until = ? WHERE id = ?", Date.now() - 60_000, human.id);
    });
    expect((await pending(room)).map((m) => m.id)).toEqual([human.id]);
    expect((await claim(human, "bot-b")).status).toBe(200);
  });
});

describe("idempotent heal and stats", () => {
  it("re-adds once, then reports already present; stats count requested vs re-added per mode", async () => {
    await batchesLanded();
    const statsBefore = await (
      await call("/api/admin/stats", { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } })
    ).json<{ modes: Record<string, { healsRequested: number; healsReadded: number; posts: number }> }>();
    const room = uniqueRoom("heal-idem");
    await setRoomMode(room, "kv");
    const message = await post(room, "drop me");
    await env.CHAT_KV.put(`cache:${room}`, "[]"); // as a lost race would leave it
    const heal = () =>
      postJson("/api/admin/add-to-cache", { messageId: message.id, room }, { "cf-connecting-ip": "192.0.2.10" });
    expect((await (await heal()).json<{ readded: boolean }>()).readded).toBe(true);
    expect((await (await heal()).json<{ readded: boolean }>()).readded).toBe(false);
    expect((await list(room)).map((m) => m.id)).toEqual([message.id]);

    // Stats reach the local store in batches after the response: wait (bounded) for the batch.
    let stats = statsBefore;
    for (const deadline = Date.now() + 3 * LOCAL_FLUSH_MS; Date.now() < deadline;) {
      stats = await (
        await call("/api/admin/stats", { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } })
      ).json();
      if (stats.modes.kv!.healsRequested >= statsBefore.modes.kv!.healsRequested + 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(stats.modes.kv!.healsRequested - statsBefore.modes.kv!.healsRequested).toBe(2);
    expect(stats.modes.kv!.healsReadded - statsBefore.modes.kv!.healsReadded).toBe(1);
    expect(stats.modes.kv!.posts - statsBefore.modes.kv!.posts).toBe(1);
  });

  it("does not lose counter increments under 100 concurrent posts", async () => {
    const auth = { authorization: `Bearer ${env.ADMIN_TOKEN}` };
    await batchesLanded();
    const before = await (
      await call("/api/admin/stats", { headers: auth })
    ).json<{ modes: { do: { posts: number } } }>();
    const room = uniqueRoom("count");
    await setRoomMode(room, "do");
    await Promise.all(Array.from({ length: 100 }, (_, i) => post(room, `n${i}`)));
    let posts = 0;
    for (
      const deadline = Date.now() + 3 * LOCAL_FLUSH_MS;
      Date.now() < deadline && posts < before.modes.do.posts + 100;
    ) {
      posts = (await (await call("/api/admin/stats", { headers: auth })).json<{ modes: { do: { posts: number } } }>())
        .modes.do.posts;
      if (posts < before.modes.do.posts + 100) await new Promise((r) => setTimeout(r, 100));
    }
    expect(posts - before.modes.do.posts).toBe(100);
  });
});

/** Stats of earlier tests' requests are on their way in batches: wait one batch window (and a margin) before counting. */
function batchesLanded(): Promise<void> {
  return new Promise((r) => setTimeout(r, LOCAL_FLUSH_MS + 1_000));
}
