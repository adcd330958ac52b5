// Streaming AI replies in do rooms: POST /api/bot/stream grows a reply the room pushes
// to its sockets (hello carries the text so far), persisted at most once a second; the
// same id's reply ends it; a room restart loses at most the unpersisted tail and the bot
// resends it; a lapsed lease leaves it "interrupted"; Stop reaches the bot; kv rooms refuse.
import { env } from "cloudflare:workers";
import { evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { ServerFrame } from "../../src/shared/frames";
import { newMessageId, type Message } from "../../src/shared/message";
import { StreamView, type StreamFrame } from "../../src/shared/stream";
import type { RoomInspection } from "../../src/room/room";
import { BOT, ADMIN, call, connect, frameOf, getFlags, list, post, postJson, setRoomMode, uniqueRoom } from "./helpers";

type Socket = Awaited<ReturnType<typeof connect>>;

/** The edit key a question was posted with: its asker's proof for Stop. */
const ASKER_KEY = "asker-key-0123456789abcdef";

async function claim(room: string, messageId: string, botId: string): Promise<void> {
  const res = await postJson("/api/bot/claim", { room, messageId, botId }, BOT);
  expect(res.status).toBe(200);
}

function stream(
  room: string,
  body: { id: string; replyTo: string; botId: string; offset: number; delta: string },
  headers: Record<string, string> = BOT,
) {
  return postJson("/api/bot/stream", { room, author: "bot (test)", ...body }, headers);
}

async function streamed(room: string, body: Parameters<typeof stream>[1]): Promise<{ have: number; stop: boolean }> {
  const res = await stream(room, body);
  expect(res.status, await res.clone().text()).toBe(200);
  const { have, stop, mode } = await res.json<{ have: number; stop: boolean; mode: string }>();
  expect(mode).toBe("do");
  return { have, stop };
}

async function reply(
  room: string,
  id: string,
  replyTo: string,
  botId: string,
  text: string,
  extra: Record<string, unknown> = {},
): Promise<Message> {
  const res = await postJson(
    "/api/comments",
    { room, kind: "ai", id, replyTo, botId, text, author: "bot (test)", ...extra },
    BOT,
  );
  expect(res.status, await res.clone().text()).toBe(201);
  return res.json();
}

/** A do room with a human message claimed by `botId`, and a socket past its hello. */
async function claimedRoom(prefix: string, botId: string): Promise<{ room: string; human: Message; socket: Socket }> {
  const room = uniqueRoom(prefix);
  await setRoomMode(room, "do");
  const human = await post(room, `a question for ${botId}`);
  await claim(room, human.id, botId);
  const socket = await connect(room);
  await socket.next(frameOf("hello"));
  return { room, human, socket };
}

/** Folds a socket's frames the way the page does: hello, then stream frames, then replies ending streams. */
function viewOf(socket: Socket): StreamView {
  const view = new StreamView();
  for (const frame of socket.frames) {
    if (frame.type === "hello") view.reset(frame.streams);
    else if (frame.type === "stream") view.apply(frame);
    else if (frame.type === "message" || frame.type === "update") view.settle(frame.message);
  }
  return view;
}

const streamFrame =
  (id: string, match: (f: StreamFrame) => boolean = () => true) =>
  (f: ServerFrame): f is StreamFrame =>
    f.type === "stream" && f.id === id && match(f);

async function inspect(room: string): Promise<RoomInspection> {
  return (await call(`/api/admin/rooms/${room}`, { headers: ADMIN })).json();
}

describe("streaming replies", () => {
  it("pushes the growing text, survives a room restart with no gap and no repeat, and ends with the reply of the same id", async () => {
    const { room, human, socket: a } = await claimedRoom("stream", "b1");
    expect((await a.next(frameOf("hello"))).streams).toBeUndefined();
    const id = newMessageId();

    expect(await streamed(room, { id, replyTo: human.id, botId: "b1", offset: 0, delta: "Hello " })).toEqual({
      have: 6,
      stop: false,
    });
    await a.next(streamFrame(id, (f) => f.offset === 0));
    expect(await streamed(room, { id, replyTo: human.id, botId: "b1", offset: 6, delta: "world" })).toEqual({
      have: 11,
      stop: false,
    });
    await a.next(streamFrame(id, (f) => f.offset === 6));
    expect(viewOf(a).get(id)?.text).toBe("Hello world");

    // The room restarts (its sockets hibernate). Storage holds the first write at least: the
    // second may be inside the one-second window, and then it is the bot's to resend.
    await evictDurableObject(env.ROOM.getByName(room), { webSockets: "hibernate" });
    const b = await connect(room);
    const [held] = (await b.next(frameOf("hello"))).streams ?? [];
    expect(held).toMatchObject({ id, replyTo: human.id, author: "bot (test)", state: "streaming" });
    expect(["Hello ", "Hello world"]).toContain(held!.text);

    // The bot goes on as it does: from what the room says it holds.
    const sent = "Hello world!";
    let { have } = await streamed(room, { id, replyTo: human.id, botId: "b1", offset: 11, delta: "!" });
    expect(have === held!.text.length || have === sent.length).toBe(true);
    if (have < sent.length)
      have = (await streamed(room, { id, replyTo: human.id, botId: "b1", offset: have, delta: sent.slice(have) })).have;
    expect(have).toBe(sent.length);
    await a.next(streamFrame(id, (f) => f.delta.endsWith("!")));
    await b.next(streamFrame(id, (f) => f.delta.endsWith("!")));
    for (const socket of [a, b]) {
      const view = viewOf(socket);
      expect(view.get(id)?.text).toBe("Hello world!");
      expect(view.gaps).toBe(0);
    }

    const final = await reply(room, id, human.id, "b1", "Hello world! The end.");
    for (const socket of [a, b]) {
      await socket.next(
        (f): f is Extract<ServerFrame, { type: "message" }> => f.type === "message" && f.message.id === id,
      );
      expect(viewOf(socket).list()).toEqual([]);
    }
    expect((await list(room)).filter((m) => m.kind === "ai")).toEqual([final]);
    const c = await connect(room);
    expect((await c.next(frameOf("hello"))).streams).toBeUndefined();
    // Nothing more is pushed for the finished stream.
    expect(
      await stream(room, { id, replyTo: human.id, botId: "b1", offset: 12, delta: " more" }).then((r) => r.status),
    ).toBe(409);
    for (const socket of [a, b, c]) socket.ws.close();
  });

  it("writes a stream to storage at most once a second and pushes it at most every 50 ms", async () => {
    const room = uniqueRoom("stream-rate");
    await setRoomMode(room, "do");
    const human = await post(room, "count to forty");
    await claim(room, human.id, "rate-bot");
    const id = newMessageId();
    const before = (await inspect(room)).streams;
    const started = Date.now();
    let text = "";
    for (let i = 0; i < 40; i++) {
      const delta = `${i} `;
      await streamed(room, { id, replyTo: human.id, botId: "rate-bot", offset: text.length, delta });
      text += delta;
    }
    const elapsed = Date.now() - started;
    const after = (await inspect(room)).streams;
    expect(after.live).toBe(1);
    expect(after.writes - before.writes).toBeLessThanOrEqual(1 + Math.floor(elapsed / 1000));
    expect(after.pushes - before.pushes).toBeLessThanOrEqual(1 + Math.floor(elapsed / 50));
  });

  it("marks a stream interrupted when its bot's lease runs out, and another bot's stream and reply take its place", async () => {
    const room = uniqueRoom("stream-lapse");
    await setRoomMode(room, "do");
    const human = await post(room, "anyone?");
    const stub = env.ROOM.getByName(room);
    const { version } = await getFlags();
    const claimed = await stub.claim({ room, flagVersion: version }, human.id, "dies", 200);
    expect(claimed.ok).toBe(true);
    const socket = await connect(room);
    await socket.next(frameOf("hello"));
    const dead = newMessageId();
    await streamed(room, { id: dead, replyTo: human.id, botId: "dies", offset: 0, delta: "I was say" });
    await socket.next(streamFrame(dead));

    await new Promise((r) => setTimeout(r, 250));
    await runDurableObjectAlarm(stub);
    await socket.next(streamFrame(dead, (f) => f.state === "interrupted"));
    expect(viewOf(socket).get(dead)).toMatchObject({ text: "I was say", state: "interrupted" });
    // The dead bot cannot stream on (its lease is gone); the next bot claims and streams.
    expect((await stream(room, { id: dead, replyTo: human.id, botId: "dies", offset: 9, delta: "ing" })).status).toBe(
      409,
    );
    await claim(room, human.id, "next");
    const fresh = newMessageId();
    await streamed(room, { id: fresh, replyTo: human.id, botId: "next", offset: 0, delta: "Here " });
    await socket.next(streamFrame(dead, (f) => f.state === "ended"));
    await socket.next(streamFrame(fresh));
    expect(
      viewOf(socket)
        .list()
        .map((s) => s.id),
    ).toEqual([fresh]);

    await reply(room, fresh, human.id, "next", "Here I am.");
    await socket.next(
      (f): f is Extract<ServerFrame, { type: "message" }> => f.type === "message" && f.message.id === fresh,
    );
    expect(viewOf(socket).list()).toEqual([]);
    expect((await list(room)).filter((m) => m.kind === "ai").map((m) => m.id)).toEqual([fresh]);
    socket.ws.close();
  });

  it("Stop from the asker's socket reaches the bot in its next answer; the reply keeps its text, marked stopped", async () => {
    const room = uniqueRoom("stream-stop");
    await setRoomMode(room, "do");
    const human = await post(room, "a question for stoppable", { editKey: ASKER_KEY });
    await claim(room, human.id, "stoppable");
    const socket = await connect(room);
    await socket.next(frameOf("hello"));
    const id = newMessageId();
    await streamed(room, { id, replyTo: human.id, botId: "stoppable", offset: 0, delta: "On and on" });

    socket.send({ type: "stop", id: newMessageId(), editKey: ASKER_KEY });
    expect(await socket.next(frameOf("nack"))).toMatchObject({
      status: 404,
      error: "no reply with this id is being written",
    });
    socket.send({ type: "stop", id, editKey: ASKER_KEY });
    await socket.next(streamFrame(id, (f) => f.state === "stopping"));
    expect(await streamed(room, { id, replyTo: human.id, botId: "stoppable", offset: 9, delta: " and" })).toEqual({
      have: 13,
      stop: true,
    });

    const stopped = await reply(room, id, human.id, "stoppable", "On and on and", { stopped: true });
    expect(stopped).toMatchObject({ id, text: "On and on and", stopped: true });
    expect((await list(room)).find((m) => m.id === id)?.stopped).toBe(true);
    socket.ws.close();
  });

  it("a flip to kv ends the room's streams: the bot's next call is refused, and a flip back shows none", async () => {
    const { room, human, socket } = await claimedRoom("stream-flip", "flipper");
    const id = newMessageId();
    await streamed(room, { id, replyTo: human.id, botId: "flipper", offset: 0, delta: "Half a" });
    await setRoomMode(room, "kv");
    await socket.next(streamFrame(id, (f) => f.state === "ended"));
    expect((await stream(room, { id, replyTo: human.id, botId: "flipper", offset: 6, delta: " reply" })).status).toBe(
      409,
    );
    await setRoomMode(room, "do");
    const later = await connect(room);
    expect((await later.next(frameOf("hello"))).streams).toBeUndefined();
    for (const s of [socket, later]) s.ws.close();
  });

  it("an operator deleting the message drops its stream: viewers see it end, the bot's next call and its reply get 410, a late viewer gets none", async () => {
    const { room, human, socket } = await claimedRoom("stream-deleted", "answerer");
    const id = newMessageId();
    await streamed(room, { id, replyTo: human.id, botId: "answerer", offset: 0, delta: "An answer to someth" });
    await socket.next(streamFrame(id));
    const deleted = await call(`/api/admin/messages/${human.id}?room=${room}`, { method: "DELETE", headers: ADMIN });
    expect(deleted.status).toBe(200);
    await socket.next(streamFrame(id, (f) => f.state === "ended"));
    const tombstone = await socket.next(
      (f): f is Extract<ServerFrame, { type: "update" }> => f.type === "update" && f.message.id === human.id,
    );
    expect(tombstone.message.deleted).toBe(true);
    expect(viewOf(socket).list()).toEqual([]);
    expect((await inspect(room)).streams.live).toBe(0);

    const next = await stream(room, { id, replyTo: human.id, botId: "answerer", offset: 19, delta: "ing deleted" });
    expect(next.status).toBe(410);
    expect((await next.json<{ error: string }>()).error).toContain("replyTo: ");
    // A new stream for the deleted message is refused the same way, and starts nothing.
    expect(
      (await stream(room, { id: newMessageId(), replyTo: human.id, botId: "answerer", offset: 0, delta: "x" })).status,
    ).toBe(410);
    const replied = await postJson(
      "/api/comments",
      { room, kind: "ai", id, replyTo: human.id, botId: "answerer", text: "An answer", author: "bot (test)" },
      BOT,
    );
    expect(replied.status).toBe(410);
    expect((await inspect(room)).streams.live).toBe(0);
    const later = await connect(room);
    expect((await later.next(frameOf("hello"))).streams).toBeUndefined();
    expect(socket.frames.filter((f) => f.type === "message")).toEqual([]);
    for (const s of [socket, later]) s.ws.close();
  });

  it("refuses what it must: kv rooms (409 mode kv), no claim, no token, bad input; nothing is pushed", async () => {
    const kvRoom = uniqueRoom("stream-kv");
    await setRoomMode(kvRoom, "kv");
    const kvHuman = await post(kvRoom, "kv question");
    await claim(kvRoom, kvHuman.id, "kv-bot");
    const kv = await stream(kvRoom, {
      id: newMessageId(),
      replyTo: kvHuman.id,
      botId: "kv-bot",
      offset: 0,
      delta: "x",
    });
    expect(kv.status).toBe(409);
    expect(kv.headers.get("X-Cache-Mode")).toBe("kv");
    expect(await kv.json()).toEqual({ error: "kv rooms do not stream replies; post the finished reply" });

    const room = uniqueRoom("stream-bad");
    await setRoomMode(room, "do");
    const human = await post(room, "question");
    const body = { id: newMessageId(), replyTo: human.id, botId: "b", offset: 0, delta: "x" };
    expect(await stream(room, body).then(async (r) => [r.status, await r.json()])).toEqual([
      409,
      { error: "claim the message before streaming its reply" },
    ]);
    await claim(room, human.id, "b");
    expect((await stream(room, body, {})).status).toBe(401);
    expect((await stream(room, { ...body, offset: -1 })).status).toBe(400);
    expect((await stream(room, { ...body, id: "nope" })).status).toBe(400);
    expect((await stream(room, { ...body, replyTo: newMessageId() })).status).toBe(404);
    expect((await postJson("/api/bot/stream", { ...body, room, author: "a", extra: 1 }, BOT)).status).toBe(400);
    expect((await postJson("/api/comments", { room, text: "human", stopped: true })).status).toBe(400);
    expect((await inspect(room)).streams.live).toBe(0);
  });
});
