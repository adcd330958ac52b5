// `pos` is the one cursor: every change takes the room's next position, `since` pages by it,
// and lists and `hello` name the newest one `lastPos` (`lastSeq` is the same number under its
// old name). Claims and replies move positions ahead of the log order (`seq`).
import { describe, expect, it } from "vitest";
import type { CommentsResponse } from "../../src/shared/api";
import type { Message } from "../../src/shared/message";
import { BOT, call, connect, frameOf, post, postJson, setRoomMode, uniqueRoom } from "./helpers";

async function page(room: string, since: number, limit: number): Promise<CommentsResponse> {
  const res = await call(`/api/comments?room=${room}&since=${since}&limit=${limit}`);
  expect(res.status).toBe(200);
  return res.json<CommentsResponse>();
}

describe("the change position", () => {
  it("pages every change forward by pos, while positions run ahead of seq", async () => {
    const room = uniqueRoom("cursor");
    await setRoomMode(room, "do");
    const [first, ...rest] = [await post(room, "one"), await post(room, "two"), await post(room, "three")];
    expect((await postJson("/api/bot/claim", { room, messageId: first!.id, botId: "bot-a" }, BOT)).status).toBe(200);
    const reply = await postJson(
      "/api/comments",
      { room, kind: "ai", replyTo: first!.id, text: "an answer", author: "bot", botId: "bot-a" },
      BOT,
    );
    expect(reply.status).toBe(201);

    const latest = new Map<string, Message>();
    let since = 0;
    let lastPos = 0;
    for (let pages = 0; pages < 20; pages++) {
      const body = await page(room, since, 2);
      expect(body.lastSeq).toBe(body.lastPos);
      lastPos = body.lastPos!;
      if (!body.comments.length) break;
      for (const message of body.comments) latest.set(message.id, message);
      since = Math.max(since, ...body.comments.map((m) => m.pos!));
    }
    expect(since).toBe(lastPos);
    expect([...latest.keys()].sort()).toEqual(
      [first!.id, ...rest.map((m) => m.id), (await reply.json<Message>()).id].sort(),
    );
    expect(latest.get(first!.id)!.status).toBe("complete");
    // Positions ran ahead of the log order: a cursor taken from seq would start too early or skip.
    const maxSeq = Math.max(...[...latest.values()].map((m) => m.seq!));
    expect(lastPos).toBeGreaterThan(maxSeq);
    expect(latest.get(first!.id)!.pos).toBeGreaterThan(latest.get(first!.id)!.seq!);

    const socket = await connect(room);
    expect(await socket.next(frameOf("hello"))).toMatchObject({ lastPos, lastSeq: lastPos });
    socket.ws.close();
  });

  it("answers the heal under its public name, POST /api/heal, as under the first version's path", async () => {
    const room = uniqueRoom("heal-name");
    await setRoomMode(room, "kv");
    const message = await post(room, "healed by name");
    for (const path of ["/api/heal", "/api/admin/add-to-cache"]) {
      const res = await postJson(path, { messageId: message.id, room }, { "cf-connecting-ip": "203.0.113.77" });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ ok: true, message: { id: message.id } });
    }
    expect((await call("/api/heal")).status).toBe(405);
  });
});
