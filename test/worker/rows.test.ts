// What each change costs in SQLite rows written, by table (a table's rows include its index
// entries): the room's own per-table counters around one change, once KV took what it owes.
import { env } from "cloudflare:workers";
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Room } from "../../src/room/room";
import type { RoomState } from "../../src/room/log";
import type { TableWrites } from "../../src/storage/usage";
import { commentKey } from "../../src/shared/keys";
import { newMessageId, type Message } from "../../src/shared/message";
import { BOT, call, post, postJson, setRoomMode, uniqueRoom } from "./helpers";
import { outboxDrained, rowsWritten } from "./probes";

type Writes = Record<string, TableWrites>;

const writesBy = (room: string): Promise<Writes> =>
  runInDurableObject(env.ROOM.getByName(room), async (instance: Room) => (await instance.inspect()).rowsWrittenBy);

/** Rows written per table by `change`, counted once the room's outbox has drained. */
async function rowsOf(room: string, change: () => Promise<unknown>): Promise<Record<string, number>> {
  await outboxDrained(room);
  const before = await writesBy(room);
  await change();
  await outboxDrained(room);
  const after = await writesBy(room);
  const delta: Record<string, number> = {};
  for (const [table, { rows }] of Object.entries(after)) {
    const added = rows - (before[table]?.rows ?? 0);
    if (added) delta[table] = added;
  }
  return delta;
}

const ok = async (res: Promise<Response>) => {
  const answer = await res;
  expect(answer.status, await answer.clone().text()).toBeLessThan(300);
  return answer;
};
const claim = (room: string, messageId: string, botId = "bot-a") =>
  ok(postJson("/api/bot/claim", { room, messageId, botId }, BOT));

describe("rows written per change", () => {
  it("a human message: its row with its id and position entries (the row carries the outbox watermark)", async () => {
    const room = uniqueRoom("rows-post");
    await setRoomMode(room, "do");
    await post(room, "the first one also writes the room's marker");
    expect(await rowsOf(room, () => post(room, "second"))).toEqual({ messages: 3 });
  });

  it("a status change writes the message's row and its position entry; a reply adds the reply's row", async () => {
    const room = uniqueRoom("rows-status");
    await setRoomMode(room, "do");
    const human = await post(room, "a question");
    const other = await post(room, "another question");
    // Left waiting: the room keeps prompts open throughout, so its marker has nothing new to say.
    await post(room, "a third question");
    // A claim and its renewal: no KV record, the lease is in the row.
    expect(await rowsOf(room, () => claim(room, human.id))).toEqual({ messages: 2 });
    await new Promise((r) => setTimeout(r, 5));
    expect(await rowsOf(room, () => claim(room, human.id))).toEqual({ messages: 2 });
    expect(
      await rowsOf(room, () => ok(postJson("/api/bot/release", { room, messageId: human.id, botId: "bot-a" }, BOT))),
    ).toEqual({ messages: 2 });
    await claim(room, other.id);
    expect(
      await rowsOf(room, () =>
        ok(postJson("/api/bot/fail", { room, messageId: other.id, botId: "bot-a", reason: "no model" }, BOT)),
      ),
    ).toEqual({ messages: 2 });
    await claim(room, human.id);
    // The reply's row with its id, position and reply_to entries, and the question's status change.
    const reply = () =>
      ok(
        postJson(
          "/api/comments",
          { room, kind: "ai", replyTo: human.id, botId: "bot-a", text: "yes", author: "bot" },
          BOT,
        ),
      );
    expect(await rowsOf(room, reply)).toEqual({ messages: 4 + 2 });
  });

  it("an edit and a reaction: the message's row and its position entry", async () => {
    const room = uniqueRoom("rows-people");
    await setRoomMode(room, "do");
    const editKey = "the-authors-edit-key-00000001";
    const message = await (await ok(postJson("/api/comments", { room, text: "v1", editKey }))).json<Message>();
    const edit = () => ok(postJson(`/api/comments/${message.id}/edit`, { room, text: "v2", version: 2, editKey }));
    expect(await rowsOf(room, edit)).toEqual({ messages: 2 });
    const react = (on: boolean) =>
      ok(
        postJson(`/api/comments/${message.id}/reactions`, {
          room,
          emoji: "🎉",
          on,
          reactorKey: "reactor-key-0000000000000001",
        }),
      );
    expect(await rowsOf(room, () => react(true))).toEqual({ messages: 2 });
    expect(await rowsOf(room, () => react(false))).toEqual({ messages: 2 });
  });
});

describe("the room marker and regenerate", () => {
  const editKey = "the-askers-edit-key-000000001";
  const answer = (room: string, humanId: string, id: string, text: string) =>
    ok(postJson("/api/comments", { room, kind: "ai", id, replyTo: humanId, botId: "bot-a", text, author: "bot" }, BOT));

  it("a room going idle, then busy: its marker's meta row, an outbox row put and done", async () => {
    const room = uniqueRoom("rows-marker");
    await setRoomMode(room, "do");
    const human = await (await ok(postJson("/api/comments", { room, text: "a question", editKey }))).json<Message>();
    await claim(room, human.id);
    expect(await rowsOf(room, () => answer(room, human.id, newMessageId(), "yes"))).toEqual({
      messages: 4 + 2,
      meta: 1,
      outbox: 2,
    });
    // Ask again: the question's row and position entry, and the marker says prompts wait again.
    const regenerate = () =>
      ok(postJson(`/api/comments/${human.id}/regenerate`, { room, requestId: "rows-request-01", editKey }));
    expect(await rowsOf(room, regenerate)).toEqual({ messages: 2, meta: 1, outbox: 2 });
  });

  it("regenerate, prompts waiting: the question's row; the new answer: the reply's and the question's", async () => {
    const room = uniqueRoom("rows-regenerate");
    await setRoomMode(room, "do");
    const human = await (await ok(postJson("/api/comments", { room, text: "a question", editKey }))).json<Message>();
    await post(room, "left waiting: the marker has nothing new to say");
    await claim(room, human.id);
    const first = newMessageId();
    await answer(room, human.id, first, "first answer");
    const regenerate = () =>
      ok(postJson(`/api/comments/${human.id}/regenerate`, { room, requestId: "rows-request-02", editKey }));
    expect(await rowsOf(room, regenerate)).toEqual({ messages: 2 });
    await claim(room, human.id);
    // The earlier answer's next version: its row (text, history, reply id at once) and position entry.
    expect(await rowsOf(room, () => answer(room, human.id, newMessageId(), "second answer"))).toEqual({
      messages: 2 + 2,
    });
    const reply = await env.CHAT_KV.get<Message>(commentKey(room, first), "json");
    expect(reply).toMatchObject({ text: "second answer", version: 2 });
  });
});

describe("a write the room did not change writes nothing", () => {
  it("a duplicate post, the same reaction again, the same edit again, a renewal to the same lease: 0 rows", async () => {
    const room = uniqueRoom("rows-nothing");
    await setRoomMode(room, "do");
    const editKey = "the-authors-edit-key-00000002";
    const message = await (await ok(postJson("/api/comments", { room, text: "v1", editKey }))).json<Message>();
    await ok(postJson(`/api/comments/${message.id}/edit`, { room, text: "v2", version: 2, editKey }));
    const reaction = { room, emoji: "👍", on: true, reactorKey: "reactor-key-0000000000000002" };
    await ok(postJson(`/api/comments/${message.id}/reactions`, reaction));
    await outboxDrained(room);

    const before = await rowsWritten(room);
    const again = await ok(postJson("/api/comments", { room, id: message.id, text: "v1", editKey }));
    expect((await again.json<Message>()).text).toBe("v2");
    await ok(postJson(`/api/comments/${message.id}/edit`, { room, text: "v2", version: 2, editKey }));
    await ok(postJson(`/api/comments/${message.id}/reactions`, reaction));
    expect(await rowsWritten(room)).toBe(before);

    // A renewal that asks for the lease the bot already holds.
    const renewed = await runInDurableObject(env.ROOM.getByName(room), (instance: Room) => {
      const { log } = (instance as unknown as { state: RoomState }).state;
      const until = Date.now() + 60_000;
      return [log.setClaim(message.id, "bot-a", until), log.setClaim(message.id, "bot-a", until)];
    });
    expect(renewed).toEqual([true, false]);
    const afterClaim = await rowsWritten(room);
    expect(afterClaim - before).toBe(2);
  });
});

describe("the watermark a change's row carries", () => {
  it("a question asked again below where the open-message scan starts is still waiting after a restart", async () => {
    const room = uniqueRoom("rows-reopen");
    await setRoomMode(room, "do");
    const stub = env.ROOM.getByName(room);
    const editKey = "the-askers-edit-key-000000003";
    const human = await (await ok(postJson("/api/comments", { room, text: "old question", editKey }))).json<Message>();
    await claim(room, human.id);
    await ok(
      postJson("/api/comments", { room, kind: "ai", replyTo: human.id, botId: "bot-a", text: "yes", author: "b" }, BOT),
    );
    const later = [];
    for (let i = 0; i < 4; i++) later.push(await post(room, `later ${i}`));
    const pending = async () =>
      (await (await call(`/api/bot/pending?room=${room}`, { headers: BOT })).json<{ pending: Message[] }>()).pending;
    // The bot's read moves the scan's start past the old question; the next change's row carries it.
    expect((await pending()).map((m) => m.id)).toEqual(later.map((m) => m.id));
    await claim(room, later[0]!.id);
    await ok(postJson(`/api/comments/${human.id}/regenerate`, { room, requestId: "rows-request-03", editKey }));
    await evictDurableObject(stub);
    expect((await pending()).map((m) => m.id)).toContain(human.id);
  });

  it("after a restart, records written since the last change are read again, not written again", async () => {
    const room = uniqueRoom("rows-restart");
    await setRoomMode(room, "do");
    const stub = env.ROOM.getByName(room);
    const posted = [await post(room, "one"), await post(room, "two")];
    await outboxDrained(room);
    // The watermark moved past "two" in memory only: no change has carried it yet.
    const saved = await runInDurableObject(
      stub,
      (_: Room, state) =>
        state.storage.sql.exec<{ w: number }>("SELECT kv_done AS w FROM messages ORDER BY pos DESC LIMIT 1").one().w,
    );
    expect(saved).toBeLessThan(posted[1]!.pos!);
    await evictDurableObject(stub);
    await runDurableObjectAlarm(stub);
    await outboxDrained(room);
    const { usage } = await stub.inspect();
    // Read back (one bulk read of the owed keys), found as they are, and not put again: the
    // only write since the wake is the mirror a restart owes.
    expect(usage.kvReads).toBeGreaterThanOrEqual(1);
    expect(usage.kvWrites).toBeLessThanOrEqual(1);
    for (const m of posted)
      expect(await env.CHAT_KV.get<Message>(commentKey(room, m.id), "json")).toMatchObject({ id: m.id });
  });
});
