// Socket caps and origins: a room holds at most ROOM_MAX_SOCKETS (30 in the tests'
// config) and ROOM_MAX_SOCKETS_PER_CLIENT (20) per client key; a socket past a cap is
// accepted and closed at once with 4503 / 4429 and a reason, while other clients still
// connect. Pages from other origins are refused before the upgrade (403). The caps and
// each socket's client key survive hibernation.
import { env } from "cloudflare:workers";
import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { MAX_FRAME_BYTES, ROOM_FULL_CLOSE, TOO_MANY_SOCKETS_CLOSE } from "../../src/shared/frames";
import { FRAME_BURST, FRAME_RATE } from "../../src/room/sockets";
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
    expect(await extra.whenClosed()).toEqual({
      code: TOO_MANY_SOCKETS_CLOSE,
      reason: expect.stringContaining("too many sockets from your address"),
    });
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
    const open = [
      ...(await openMany(room, ROOM_CAP / 2, "198.51.100.50")),
      ...(await openMany(room, ROOM_CAP / 2, "198.51.100.51")),
    ];
    const extra = await connect(room, { "cf-connecting-ip": "198.51.100.52" });
    expect(await extra.whenClosed()).toEqual({
      code: ROOM_FULL_CLOSE,
      reason: expect.stringContaining("room is full"),
    });
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
      await underFrameMeter(i);
      socket.send({ type: "send", id, text: `after hibernation ${i}` });
      const answer = await socket.answer(id);
      statuses.push(answer.type === "ack" ? 200 : answer.status);
    }
    expect(statuses).toContain(429);
    for (const s of mine) s.ws.close();
  });
});

describe("frames per socket", () => {
  it("meters every frame type: past the burst one warning, then the socket is closed (4429); others go on", async () => {
    const room = uniqueRoom("frame-flood");
    await setRoomMode(room, "do");
    const flooder = await connect(room, { "cf-connecting-ip": "198.51.100.120" });
    await flooder.next(frameOf("hello"));
    // Pings with an extra field reach the room (only the exact ping text is the runtime's to answer).
    const sent = FRAME_BURST + 20;
    for (let i = 0; i < sent; i++) flooder.send({ type: "ping", extra: i });
    expect(await flooder.next(frameOf("slow-down"))).toMatchObject({
      error: expect.stringContaining(`at most ${FRAME_RATE} a second`),
    });
    expect(await flooder.whenClosed()).toMatchObject({ code: TOO_MANY_SOCKETS_CLOSE });
    // The burst, plus what the bucket refilled while the frames arrived; never all of them.
    const pongs = flooder.frames.filter((f) => f.type === "pong").length;
    expect(pongs).toBeGreaterThanOrEqual(FRAME_BURST);
    expect(pongs).toBeLessThanOrEqual(sent - 2);

    const other = await connect(room, { "cf-connecting-ip": "198.51.100.121" });
    await other.next(frameOf("hello"));
    const id = newMessageId();
    other.send({ type: "send", id, text: "still answered" });
    expect(await other.answer(id)).toMatchObject({ type: "ack" });
    other.ws.close();
  });

  it("refills at the steady rate: a page sending a frame every 200 ms is never warned", async () => {
    const room = uniqueRoom("frame-steady");
    await setRoomMode(room, "do");
    const page = await connect(room, { "cf-connecting-ip": "198.51.100.122" });
    await page.next(frameOf("hello"));
    for (let i = 0; i < FRAME_BURST + 10; i++) {
      page.send({ type: "ping", n: i });
      await new Promise((r) => setTimeout(r, 1000 / FRAME_RATE + 100));
    }
    const id = newMessageId();
    page.send({ type: "send", id, text: "after the pings" });
    expect(await page.answer(id)).toMatchObject({ type: "ack" });
    expect(page.frames.filter((f) => f.type === "pong")).toHaveLength(FRAME_BURST + 10);
    expect(page.frames.some((f) => f.type === "slow-down")).toBe(false);
    page.ws.close();
  });

  it("measures a frame in bytes: 9,000 three-byte characters are over the 16 KB limit", async () => {
    const room = uniqueRoom("frame-bytes");
    await setRoomMode(room, "do");
    const socket = await connect(room);
    await socket.next(frameOf("hello"));
    const text = "€".repeat(9_000);
    expect(text.length).toBeLessThan(MAX_FRAME_BYTES);
    socket.send({ type: "send", id: newMessageId(), text });
    expect(await socket.whenClosed()).toMatchObject({ code: 1009 });
  });
});

describe("socket origins", () => {
  it("refuses a page of another origin with 403 before the upgrade", async () => {
    const room = uniqueRoom("origin");
    const res = await call(`/api/rooms/${room}/ws`, {
      headers: { upgrade: "websocket", origin: "https://evil.example" },
    });
    expect(res.status).toBe(403);
    expect(res.webSocket).toBeNull();
    expect(await res.json()).toEqual({
      error: expect.stringContaining("origin https://evil.example may not open room sockets"),
    });
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
    const order = socket.frames
      .filter((f) => (f.type === "ack" && f.id === id) || (f.type === "message" && f.message.id === id))
      .map((f) => f.type);
    expect(order).toEqual(["ack", "message"]);
    socket.ws.close();
  });
});

/** Past the frame meter's burst, one frame per 1/FRAME_RATE s: the post limit is what these sends meet. */
async function underFrameMeter(sent: number): Promise<void> {
  if (sent >= FRAME_BURST) await new Promise((r) => setTimeout(r, 1000 / FRAME_RATE + 5));
}
