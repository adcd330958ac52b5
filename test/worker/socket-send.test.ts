// Writes over the room socket: the same rules and error texts as POST /api/comments,
// acks to the sender, pushes to everyone, one message per id however often it is sent.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ServerFrame } from "../../src/shared/frames";
import { newMessageId } from "../../src/shared/message";
import { call, connect, frameOf, list, post, postJson, setRoomMode, uniqueRoom } from "./helpers";

const messageFrame =
  (id: string) =>
  (f: ServerFrame): f is Extract<ServerFrame, { type: "message" }> =>
    f.type === "message" && f.message.id === id;

describe("socket send", () => {
  it("acks the sender, pushes to every socket, and stores the message as HTTP would", async () => {
    const room = uniqueRoom("send");
    await setRoomMode(room, "do");
    const [sender, listener] = [await connect(room), await connect(room)];
    expect(await sender.next(frameOf("hello"))).toMatchObject({ mode: "do" });
    const id = newMessageId();
    sender.send({ type: "send", id, text: "  over the socket  ", author: "ada" });
    const ack = await sender.answer(id);
    expect(ack).toMatchObject({
      type: "ack",
      id,
      created: true,
      message: { id, room, text: "over the socket", author: "ada", kind: "human", status: "pending" },
    });
    expect((await listener.next(messageFrame(id))).message.seq).toBe(ack.type === "ack" ? ack.message.seq : -1);
    expect((await list(room)).map((m) => m.id)).toEqual([id]);
    const fromRoom = await call(`/api/comments/${id}?room=${room}`);
    expect(fromRoom.status).toBe(200);
    sender.ws.close();
    listener.ws.close();
  });

  // Each row: a bad send and the error POST /api/comments gives for the same body.
  const bad: { name: string; frame: Record<string, unknown> }[] = [
    { name: "empty text", frame: { text: "   " } },
    { name: "text too long", frame: { text: "x".repeat(4001) } },
    { name: "text not a string", frame: { text: 42 } },
    { name: "author too long", frame: { text: "hi", author: "a".repeat(41) } },
    { name: "unknown field", frame: { text: "hi", admin: true } },
  ];
  it.each(bad)("nacks $name with the HTTP status and error text, storing nothing", async ({ frame }) => {
    const room = uniqueRoom("nack");
    await setRoomMode(room, "do");
    const client = await connect(room);
    const id = newMessageId();
    client.send({ type: "send", id, ...frame });
    const nack = await client.answer(id);
    const { type: _type, ...body } = { type: "send", ...frame };
    const http = await postJson("/api/comments", { room, id, ...body });
    expect(nack).toEqual({
      type: "nack",
      id,
      status: http.status,
      error: (await http.json<{ error: string }>()).error,
    });
    expect(http.status).toBe(400);
    expect(await list(room)).toEqual([]);
    client.ws.close();
  });

  it("nacks a bad id with 400, and closes the socket on frames that are not JSON, unknown, or over 16 KB", async () => {
    const room = uniqueRoom("nack-id");
    await setRoomMode(room, "do");
    const client = await connect(room);
    client.send({ type: "send", id: "not-an-id", text: "hi" });
    expect(await client.answer("not-an-id")).toMatchObject({
      type: "nack",
      status: 400,
      error: "id: id must look like <epoch ms>-<base36>",
    });
    client.ws.send("{not json");
    expect(await client.whenClosed()).toMatchObject({ code: 1008 });
    for (const [data, code] of [
      [JSON.stringify({ type: "shout" }), 1008],
      [JSON.stringify({ type: "send", id: newMessageId(), text: "x".repeat(17_000) }), 1009],
    ] as const) {
      const other = await connect(room);
      other.ws.send(data);
      expect(await other.whenClosed()).toMatchObject({ code });
    }
    expect(await list(room)).toEqual([]);
  });

  it("a resend of the same id after reconnecting is acked with the stored message: one message", async () => {
    const room = uniqueRoom("resend");
    await setRoomMode(room, "do");
    const first = await connect(room);
    const id = newMessageId();
    first.send({ type: "send", id, text: "once" });
    await first.answer(id);
    first.ws.close(); // as if the ack had been lost with the connection
    const second = await connect(room);
    second.send({ type: "send", id, text: "once" });
    expect(await second.answer(id)).toMatchObject({ type: "ack", id, created: false, message: { text: "once" } });
    expect((await list(room)).filter((m) => m.id === id)).toHaveLength(1);
    second.ws.close();
  });

  it("nacks 409 with mode kv once the room left do mode, and in a kv room; HTTP then stores the message", async () => {
    const room = uniqueRoom("left");
    await setRoomMode(room, "do");
    await post(room, "before the flip");
    const client = await connect(room);
    await client.next(frameOf("hello"));
    await setRoomMode(room, "kv");
    await client.next(frameOf("mode"));
    const id = newMessageId();
    client.send({ type: "send", id, text: "after the flip" });
    expect(await client.answer(id)).toMatchObject({ type: "nack", id, status: 409, mode: "kv" });
    const viaHttp = await postJson("/api/comments", { room, id, text: "after the flip" });
    expect(viaHttp.status).toBe(201);
    expect(viaHttp.headers.get("X-Cache-Mode")).toBe("kv");

    const kvRoom = uniqueRoom("kv-send");
    await setRoomMode(kvRoom, "kv");
    const kvClient = await connect(kvRoom);
    expect(await kvClient.next(frameOf("hello"))).toMatchObject({ mode: "kv" });
    const kvId = newMessageId();
    kvClient.send({ type: "send", id: kvId, text: "not here" });
    expect(await kvClient.answer(kvId)).toMatchObject({ type: "nack", status: 409, mode: "kv" });
    expect(await env.CHAT_KV.get(`comment:${kvRoom}:${kvId}`)).toBeNull();
    client.ws.close();
    kvClient.ws.close();
  });

  it("a stale do call to a room that left do mode is rerun on the kv path", async () => {
    const room = uniqueRoom("stale");
    await setRoomMode(room, "do");
    const flags = (await env.CHAT_KV.get<{ version: number }>("flags", "json"))!;
    await setRoomMode(room, "kv");
    // A Worker elsewhere still holding the old flag calls the room directly:
    const stale = await env.ROOM.getByName(room).post(
      { room, flagVersion: flags.version },
      { id: newMessageId(), text: "stale", author: "x" },
    );
    expect(stale).toMatchObject({ ok: false, status: 409, mode: "kv" });
    expect((await list(room)).map((m) => m.text)).not.toContain("stale");
  });
});
