// Edits and reactions in a do room: changes like any other (next position, pushed as `update`,
// in `since` catch-up), idempotent, refused after deletion, and cheap in SQLite rows.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { commentKey } from "../../src/shared/keys";
import type { Message, MessageVersion } from "../../src/shared/message";
import { ADMIN, call, connect, postJson, setRoomMode, uniqueRoom } from "./helpers";
import { outboxDrained, rowsWritten } from "./probes";

const KEY = "an-edit-key-of-the-author-0001";
const OTHER_KEY = "somebody-else-entirely-00002";

async function postWithKey(room: string, text: string, editKey = KEY): Promise<Message> {
  const res = await postJson("/api/comments", { room, text, author: "ana", editKey });
  expect(res.status).toBe(201);
  return res.json<Message>();
}

const edit = (room: string, id: string, text: string, version: number, editKey = KEY) =>
  postJson(`/api/comments/${id}/edit`, { room, text, version, editKey });
const react = (room: string, id: string, emoji: string, on: boolean, reactorKey: string) =>
  postJson(`/api/comments/${id}/reactions`, { room, emoji, on, reactorKey });

describe("edits", () => {
  it("take the next version and position, are pushed, caught up, kept as history and written to KV", async () => {
    const room = uniqueRoom("edits");
    await setRoomMode(room, "do");
    const original = await postWithKey(room, "helo");
    const socket = await connect(room);
    await socket.next((f): f is Extract<typeof f, { type: "hello" }> => f.type === "hello");

    const res = await edit(room, original.id, "hello", 2);
    expect(res.status).toBe(200);
    const edited = await res.json<Message>();
    expect(edited).toMatchObject({ id: original.id, text: "hello", version: 2, editedAt: expect.any(Number) });
    expect(edited.pos).toBeGreaterThan(original.pos!);
    const pushed = await socket.next(
      (f): f is Extract<typeof f, { type: "update" }> => f.type === "update" && f.message.version === 2,
    );
    expect(pushed.message.text).toBe("hello");

    const caughtUp = await (
      await call(`/api/comments?room=${room}&since=${original.pos}`)
    ).json<{ comments: Message[] }>();
    expect(caughtUp.comments.map((m) => [m.id, m.text])).toEqual([[original.id, "hello"]]);

    // The same edit again is answered as it stands; another text for a taken version is 409.
    expect((await edit(room, original.id, "hello", 2)).status).toBe(200);
    expect((await edit(room, original.id, "hullo", 2)).status).toBe(409);
    expect((await edit(room, original.id, "skipping", 4)).status).toBe(409);
    expect((await edit(room, original.id, "hello!", 3)).status).toBe(200);

    const history = await (
      await call(`/api/comments/${original.id}/versions?room=${room}`)
    ).json<{ message: Message; versions: MessageVersion[] }>();
    expect(history.message.text).toBe("hello!");
    expect(history.versions.map((v) => [v.version, v.text])).toEqual([
      [1, "helo"],
      [2, "hello"],
    ]);

    await outboxDrained(room);
    const record = await env.CHAT_KV.get<Message>(commentKey(room, original.id), "json");
    expect(record).toMatchObject({ text: "hello!", version: 3 });
    socket.ws.close();
  });

  it("belong to the key the post was given: anyone else, an AI reply or a deleted message is refused", async () => {
    const room = uniqueRoom("edit-refused");
    await setRoomMode(room, "do");
    const mine = await postWithKey(room, "mine");
    expect((await edit(room, mine.id, "hijacked", 2, OTHER_KEY)).status).toBe(403);
    const keyless = await (await postJson("/api/comments", { room, text: "no key" })).json<Message>();
    expect((await edit(room, keyless.id, "hijacked", 2, KEY)).status).toBe(403);
    expect((await edit(room, mine.id, "", 2)).status).toBe(400);
    expect(
      (await call(`/api/admin/messages/${mine.id}?room=${room}`, { method: "DELETE", headers: ADMIN })).status,
    ).toBe(200);
    expect((await edit(room, mine.id, "after deletion", 2)).status).toBe(410);
    const history = await (
      await call(`/api/comments/${keyless.id}/versions?room=${room}`)
    ).json<{ versions: MessageVersion[] }>();
    expect(history.versions).toEqual([]);
  });

  it("are refused in a kv room, which keeps the first version's features", async () => {
    const room = uniqueRoom("edit-kv");
    await setRoomMode(room, "kv");
    const message = await postWithKey(room, "kv message");
    const res = await edit(room, message.id, "changed", 2);
    expect(res.status).toBe(409);
    expect(res.headers.get("x-cache-mode")).toBe("kv");
  });
});

describe("reactions", () => {
  it("count each reactor once per emoji, concurrent toggles lose none, and the same toggle writes nothing", async () => {
    const room = uniqueRoom("reactions");
    await setRoomMode(room, "do");
    const message = await postWithKey(room, "react to me");
    const reactors = Array.from({ length: 20 }, (_, i) => `reactor-key-number-${String(i).padStart(6, "0")}`);
    const answers = await Promise.all(reactors.map((key) => react(room, message.id, "👍", true, key)));
    expect(answers.map((r) => r.status)).toEqual(reactors.map(() => 200));
    await Promise.all(reactors.slice(0, 5).map((key) => react(room, message.id, "🎉", true, key)));
    await Promise.all(reactors.slice(0, 3).map((key) => react(room, message.id, "🎉", false, key)));

    const before = await rowsWritten(room);
    const again = await (await react(room, message.id, "👍", true, reactors[0]!)).json<Message>();
    expect(await rowsWritten(room)).toBe(before);
    expect(again.reactions).toEqual({ "👍": 20, "🎉": 2 });

    expect((await react(room, message.id, "🙈", true, reactors[0]!)).status).toBe(400);
  });

  it("cost two SQLite rows each: the message's row and its position entry", async () => {
    const room = uniqueRoom("reaction-rows");
    await setRoomMode(room, "do");
    const message = await postWithKey(room, "count my rows");
    await outboxDrained(room);
    const before = await rowsWritten(room);
    expect((await react(room, message.id, "❤️", true, "one-reactor-key-000000001")).status).toBe(200);
    const afterReaction = await rowsWritten(room);
    // The reactor joins the message's row, with its counts and position, and the position index entry moves.
    expect(afterReaction - before).toBe(2);
    expect((await edit(room, message.id, "counted", 2)).status).toBe(200);
    // The old text joins the row's history: the row and its position entry; writing its KV record
    // moves the outbox watermark in memory (the next change's row carries it).
    await outboxDrained(room);
    expect((await rowsWritten(room)) - afterReaction).toBe(2);
  });
});
