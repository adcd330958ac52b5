// Socket caps and origins: a room holds at most ROOM_MAX_SOCKETS (30 in the tests'
// config) and ROOM_MAX_SOCKETS_PER_CLIENT (20) per client key; a socket past a cap is
// accepted and closed at once with 4503 / 4429 and a reason, while other clients still
// connect. Pages from other origins are refused before the upgrade (403). The caps and
// each socket's client key survive hibernation.
import { env } from "cloudflare:workers";
import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ROOM_FULL_CLOSE, TOO_MANY_SOCKETS_CLOSE } from "../../src/shared/frames";
import { newMessageId } from "../../src/shared/message";
import { call, connect, frameOf, setRoomMode, uniqueRoom } from "./helpers";

const PER_CLIENT = 20;
const ROOM_CAP = 30;

async function openMany(room: string, count: number, ip: string) {
  const sockets = [];
  for (let i = 0; i < count; i++) {
    const socket = await connect(room, { "cf-connecting-ip": ip });
    await socket.next(frameOf("hello"));
    sockets.push(socket);
  }
  return sockets;
}

describe("socket caps", () => {
  it("refuses a client's socket past its per-room cap (4429), while other clients connect", async () => {
    const room = uniqueRoom("cap-client");
    await setRoomMode(room, "do");
    const mine = await openMany(room, PER_CLIENT, "198.51.100.40");
    const extra = await connect(room, { "cf-connecting-ip": "198.51.100.40" });
    expect(await extra.whenClosed()).toEqual({ code: TOO_MANY_SOCKETS_CLOSE, reason: expect.stringContaining("too many sockets from your address") });
    expect(extra.frames).toEqual([]);

    const other = await connect(room, { "cf-connecting-ip": "198.51.100.41" });
    await other.next(frameOf("hello"));
    // The cap is per room: the same address connects to another room.
    const elsewhere = await connect(uniqueRoom("cap-client-b"), { "cf-connecting-ip": "198.51.100.40" });
    await elsewhere.next(frameOf("hello"));
    for (const s of [...mine, other, elsewhere]) s.ws.close();
  });

  it("refuses any socket past the room's cap (4503)", async () => {
    const room = uniqueRoom("cap-room");
    const open = [...(await openMany(room, ROOM_CAP / 2, "198.51.100.50")), ...(await openMany(room, ROOM_CAP / 2, "198.51.100.51"))];
    const extra = await connect(room, { "cf-connecting-ip": "198.51.100.52" });
    expect(await extra.whenClosed()).toEqual({ code: ROOM_FULL_CLOSE, reason: expect.stringContaining("room is full") });
    for (const s of open) s.ws.close();
  });

  it("still counts a client's sockets and sends after the room hibernates", async () => {
    const room = uniqueRoom("cap-hib");
    await setRoomMode(room, "do");
    const mine = await openMany(room, PER_CLIENT, "198.51.100.60");
    await evictDurableObject(env.ROOM.getByName(room), { webSockets: "hibernate" });
    const extra = await connect(room, { "cf-connecting-ip": "198.51.100.60" });
    expect((await extra.whenClosed()).code).toBe(TOO_MANY_SOCKETS_CLOSE);

    // The key came back from the socket's attachment: its sends meet the post limit.
    const socket = mine[0]!;
    const statuses = [];
    for (let i = 0; i < 41; i++) {
      const id = newMessageId();
      socket.send({ type: "send", id, text: `after hibernation ${i}` });
      const answer = await socket.answer(id);
      statuses.push(answer.type === "ack" ? 200 : answer.status);
    }
    expect(statuses).toContain(429);
    for (const s of mine) s.ws.close();
  });
});

describe("socket origins", () => {
  it("refuses a page of another origin with 403 before the upgrade", async () => {
    const room = uniqueRoom("origin");
    const res = await call(`/api/rooms/${room}/ws`, { headers: { upgrade: "websocket", origin: "https://evil.example" } });
    expect(res.status).toBe(403);
    expect(res.webSocket).toBeNull();
    expect(await res.json()).toEqual({ error: expect.stringContaining("origin https://evil.example may not open room sockets") });
  });

  it("allows its own origin, ALLOWED_ORIGINS and clients without an Origin", async () => {
    const room = uniqueRoom("origin-ok");
    const cases: Record<string, string>[] = [{ origin: "http://chat.test" }, { origin: "https://friend.example" }, {}];
    for (const headers of cases) {
      const socket = await connect(room, headers);
      await socket.next(frameOf("hello"));
      socket.ws.close();
    }
  });
});

describe("pushes", () => {
  it("answer a send before pushing it, to the sender too", async () => {
    const room = uniqueRoom("push-order");
    await setRoomMode(room, "do");
    const socket = await connect(room);
    await socket.next(frameOf("hello"));
    const id = newMessageId();
    socket.send({ type: "send", id, text: "ack first" });
    await socket.next((f): f is Extract<typeof f, { type: "message" }> => f.type === "message" && f.message.id === id);
    const order = socket.frames.filter((f) => (f.type === "ack" && f.id === id) || (f.type === "message" && f.message.id === id)).map((f) => f.type);
    expect(order).toEqual(["ack", "message"]);
    socket.ws.close();
  });
});
