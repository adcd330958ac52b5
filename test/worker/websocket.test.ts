// Live push: a client connected to a do-mode room sees what another client posts,
// also after the room object hibernated with the socket open.
import { env } from "cloudflare:workers";
import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { PING_FRAME, type ServerFrame } from "../../src/shared/frames";
import { call, connect, frameOf, post, setRoomMode, uniqueRoom } from "./helpers";

describe("WebSocket push", () => {
  it("says hello, then pushes a message another client posted", async () => {
    const room = uniqueRoom("ws");
    await setRoomMode(room, "do");
    const earlier = await post(room, "before connecting");
    const client = await connect(room);
    expect(client.mode).toBe("do");
    expect(await client.next(frameOf("hello"))).toEqual({
      type: "hello",
      room,
      lastPos: earlier.pos,
      lastSeq: earlier.pos,
      mode: "do",
      presence: { count: 1, people: [{ name: "anonymous", sockets: 1 }], bots: [] },
    });
    const sent = await post(room, "hello over the socket");
    const frame = await client.next(
      (f): f is Extract<ServerFrame, { type: "message" }> => f.type === "message" && f.message.id === sent.id,
    );
    expect(frame).toMatchObject({ type: "message", message: { text: "hello over the socket", seq: earlier.seq! + 1 } });
    client.ws.close();
  });

  it("keeps pushing after the room object hibernates with the socket open", async () => {
    const room = uniqueRoom("ws-hib");
    await setRoomMode(room, "do");
    await post(room, "wake the room");
    const client = await connect(room);
    await client.next(frameOf("hello"));
    await evictDurableObject(env.ROOM.getByName(room), { webSockets: "hibernate" });
    client.ws.send(PING_FRAME);
    await client.next(frameOf("pong"));
    const sent = await post(room, "after hibernation");
    const frame = await client.next(
      (f): f is Extract<ServerFrame, { type: "message" }> => f.type === "message" && f.message.id === sent.id,
    );
    expect(frame.type).toBe("message");
    client.ws.close();
  });

  it("tells connected clients when the room leaves do mode", async () => {
    const room = uniqueRoom("ws-mode");
    await setRoomMode(room, "do");
    await post(room, "x");
    const client = await connect(room);
    await client.next(frameOf("hello"));
    await setRoomMode(room, "kv");
    expect(await client.next(frameOf("mode"))).toEqual({ type: "mode", mode: "kv" });
    client.ws.close();
  });

  it("refuses a plain GET with 426", async () => {
    const res = await call(`/api/rooms/${uniqueRoom()}/ws`);
    expect(res.status).toBe(426);
    expect(await res.json()).toEqual({ error: "expected a WebSocket upgrade" });
  });
});
