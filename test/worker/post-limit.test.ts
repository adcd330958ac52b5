// The post limit (POST_LIMITER, 20 per 10 s per client key): HTTP posts get 429 with
// Retry-After, socket sends a nack 429 with retryAfter; refused messages are not
// stored; other addresses and the operator's token go on, a bot token posting as a person does not. The limiter's windows are
// aligned to the wall clock, so each test sends 2 × limit + 1 from one address: even
// a run that straddles a window boundary puts more than the limit into one window.
import { describe, expect, it } from "vitest";
import { FRAME_BURST, FRAME_RATE } from "../../src/room/sockets";
import { ADMIN, BOT, connect, list, postJson, setRoomMode, uniqueRoom } from "./helpers";
import { newMessageId } from "../../src/shared/message";

/** POST_LIMITER's limit in wrangler.toml. */
const POST_LIMIT = 20;
const BURST = 2 * POST_LIMIT + 1;

describe("post limit over HTTP", () => {
  it("answers 429 with Retry-After and a clear error past the limit, stores nothing refused, and other addresses still post", async () => {
    const room = uniqueRoom("limit-http");
    const statuses: number[] = [];
    let limited: Response | null = null;
    for (let i = 0; i < BURST; i++) {
      const res = await postJson("/api/comments", { room, text: `burst ${i}` }, { "cf-connecting-ip": "192.0.2.10" });
      statuses.push(res.status);
      if (res.status === 429) limited ??= res;
      else expect(res.status).toBe(201);
    }
    expect(limited).not.toBeNull();
    const retryAfter = Number(limited!.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(10);
    expect(await limited!.json()).toEqual({ error: expect.stringContaining("sending too fast") });
    expect(await list(room)).toHaveLength(statuses.filter((s) => s === 201).length);

    const other = await postJson(
      "/api/comments",
      { room, text: "another person" },
      { "cf-connecting-ip": "192.0.2.11" },
    );
    expect(other.status).toBe(201);
  });

  it("counts an IPv6 client by its /64", async () => {
    const room = uniqueRoom("limit-v6");
    const statuses: number[] = [];
    // Every post from a different address of one /64.
    for (let i = 0; i < BURST; i++) {
      const res = await postJson(
        "/api/comments",
        { room, text: `v6 ${i}` },
        { "cf-connecting-ip": `2001:db8:77:1::${(i + 1).toString(16)}` },
      );
      statuses.push(res.status);
    }
    expect(statuses).toContain(429);
    const elsewhere = await postJson(
      "/api/comments",
      { room, text: "next /64" },
      { "cf-connecting-ip": "2001:db8:77:2::1" },
    );
    expect(elsewhere.status).toBe(201);
  });

  it("does not limit the operator's token; the bot token posting human messages is limited like a person", async () => {
    const room = uniqueRoom("limit-token");
    for (let i = 0; i < BURST; i++) {
      const res = await postJson(
        "/api/comments",
        { room, text: `admin ${i}` },
        { ...ADMIN, "cf-connecting-ip": "192.0.2.20" },
      );
      expect(res.status).toBe(201);
    }
    const statuses: number[] = [];
    for (let i = 0; i < BURST; i++) {
      const res = await postJson(
        "/api/comments",
        { room, text: `bot ${i}` },
        { ...BOT, "cf-connecting-ip": "192.0.2.21" },
      );
      statuses.push(res.status);
    }
    expect(statuses).toContain(429);
    expect(await list(room)).toHaveLength(BURST + statuses.filter((s) => s === 201).length);
  });
});

describe("post limit over the socket", () => {
  it("nacks 429 with retryAfter past the limit, stores nothing refused, and still acks a resend of a stored id", async () => {
    const room = uniqueRoom("limit-ws");
    await setRoomMode(room, "do");
    const socket = await connect(room, { "cf-connecting-ip": "192.0.2.30" });
    const answers = [];
    for (let i = 0; i < BURST; i++) {
      const id = newMessageId();
      await underFrameMeter(i);
      socket.send({ type: "send", id, text: `socket burst ${i}` });
      answers.push(await socket.answer(id));
    }
    const nacks = answers.filter((a) => a.type === "nack");
    expect(nacks.length).toBeGreaterThan(0);
    for (const nack of nacks) {
      expect(nack).toMatchObject({ status: 429, error: expect.stringContaining("sending too fast") });
      expect(nack.retryAfter).toBeGreaterThanOrEqual(1);
      expect(nack.retryAfter).toBeLessThanOrEqual(10);
    }
    const acked = answers.filter((a) => a.type === "ack").map((a) => a.id);
    expect((await list(room)).map((m) => m.id).sort()).toEqual(acked.sort());

    // A resend of a stored id (here over a second socket of the same address) is answered from the log, limit or not.
    const again = await connect(room, { "cf-connecting-ip": "192.0.2.30" });
    again.send({ type: "send", id: acked[0]!, text: "socket burst 0" });
    expect(await again.answer(acked[0]!)).toMatchObject({ type: "ack", created: false });

    // Another address in the same room sends on.
    const other = await connect(room, { "cf-connecting-ip": "192.0.2.31" });
    const id = newMessageId();
    other.send({ type: "send", id, text: "another person" });
    expect(await other.answer(id)).toMatchObject({ type: "ack", created: true });
  });
});

/** Past the frame meter's burst, one frame per 1/FRAME_RATE s: the post limit is what these sends meet. */
async function underFrameMeter(sent: number): Promise<void> {
  if (sent >= FRAME_BURST) await new Promise((r) => setTimeout(r, 1000 / FRAME_RATE + 5));
}
