// Presence and typing: who is in a room comes from its sockets (names in their attachments)
// and the bots that asked it for work; typing goes to the others only. None of it is stored.
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { SOCKET_SILENT_MS } from "../../src/shared/cadence";
import type { Presence, ServerFrame } from "../../src/shared/frames";
import { PRESENCE_NAMES } from "../../src/room/sockets";
import type { Room } from "../../src/room/room";
import { BOT, call, connect, frameOf, post, postJson, setRoomMode, uniqueRoom } from "./helpers";
import { rowsWritten } from "./probes";

type PresenceFrame = Extract<ServerFrame, { type: "presence" }>;
const presenceWhere =
  (match: (p: Presence) => boolean) =>
  (f: ServerFrame): f is PresenceFrame =>
    f.type === "presence" && match(f);
const names = (p: Presence) => p.people.map((person) => person.name).sort();

describe("presence", () => {
  it("shows who is here by name, coalesced, and who left", async () => {
    const room = uniqueRoom("presence");
    await setRoomMode(room, "do");
    await post(room, "hello");
    const ana = await connect(room);
    const hello = await ana.next(frameOf("hello"));
    expect(hello.presence?.count).toBe(1);
    ana.send({ type: "presence", name: "ana" });
    const ben = await connect(room);
    ben.send({ type: "presence", name: "ben" });
    const both = await ana.next(presenceWhere((p) => p.count === 2 && names(p).join() === "ana,ben"));
    expect(both.people).toEqual(
      expect.arrayContaining([
        { name: "ana", sockets: 1 },
        { name: "ben", sockets: 1 },
      ]),
    );
    await ben.next(presenceWhere((p) => names(p).join() === "ana,ben"));

    // A page that polls gets the same from the list it reads.
    const listed = await (await call(`/api/comments?room=${room}`)).json<{ presence: Presence }>();
    expect(listed.presence.count).toBe(2);
    expect(names(listed.presence)).toEqual(["ana", "ben"]);

    ben.ws.close(1000, "bye");
    const after = await ana.next(presenceWhere((p) => p.count === 1));
    expect(names(after)).toEqual(["ana"]);
    ana.ws.close();
  });

  it("sends typing to the others only, at most once per socket every 2 s", async () => {
    const room = uniqueRoom("typing");
    await setRoomMode(room, "do");
    await post(room, "hello");
    const ana = await connect(room);
    const ben = await connect(room);
    ana.send({ type: "presence", name: "ana" });
    await ben.next(presenceWhere((p) => names(p).includes("ana")));
    ana.send({ type: "typing" });
    ana.send({ type: "typing" });
    ana.send({ type: "typing" });
    expect(await ben.next(frameOf("typing"))).toEqual({ type: "typing", name: "ana" });
    // A frame after the repeats: by then any repeated typing frame would have arrived before it.
    ana.send({ type: "presence", name: "ana-b" });
    await ben.next(presenceWhere((p) => names(p).includes("ana-b")));
    expect(ben.frames.filter((f) => f.type === "typing")).toHaveLength(1);
    expect(ana.frames.filter((f) => f.type === "typing")).toHaveLength(0);
    ana.ws.close();
    ben.ws.close();
  });

  it("shows the bots that asked the room for work, and what they are doing", async () => {
    const room = uniqueRoom("bots-here");
    await setRoomMode(room, "do");
    const question = await post(room, "a question");
    const page = await connect(room);
    await page.next(frameOf("hello"));
    expect((await call(`/api/bot/pending?room=${room}&botId=llama`, { headers: BOT })).status).toBe(200);
    const idle = await page.next(presenceWhere((p) => p.bots.some((b) => b.id === "llama")));
    expect(idle.bots).toEqual([{ id: "llama", state: "idle", seenAgoMs: expect.any(Number) }]);
    expect((await postJson("/api/bot/claim", { room, messageId: question.id, botId: "llama" }, BOT)).status).toBe(200);
    await page.next(presenceWhere((p) => p.bots.some((b) => b.id === "llama" && b.state === "thinking")));
    page.ws.close();
  });

  it("rejects a name that is empty after cleaning by closing that socket (1008)", async () => {
    const room = uniqueRoom("presence-bad");
    await setRoomMode(room, "do");
    const page = await connect(room);
    page.send({ type: "presence", name: "\u200b" });
    expect((await page.whenClosed()).code).toBe(1008);
  });

  it("drops a socket that stopped pinging without a close, and closes it", async () => {
    const room = uniqueRoom("presence-silent");
    await setRoomMode(room, "do");
    await post(room, "hello");
    const gone = await connect(room);
    gone.send({ type: "presence", name: "gone" });
    const stays = await connect(room);
    await stays.next(presenceWhere((p) => names(p).includes("gone")));
    // As if the network vanished: the socket's last sign of life is older than the timeout.
    const dropped = await runInDurableObject(env.ROOM.getByName(room), (_: Room, state) => {
      for (const ws of state.getWebSockets()) {
        const client = ws.deserializeAttachment() as { name?: string; at?: number };
        if (client.name === "gone") ws.serializeAttachment({ ...client, at: Date.now() - SOCKET_SILENT_MS - 1 });
      }
      return state.getWebSockets().length;
    });
    expect(dropped).toBe(2);
    stays.send({ type: "presence", name: "stays" });
    const left = await stays.next(presenceWhere((p) => names(p).join() === "stays"));
    expect(left.count).toBe(1);
    expect((await gone.whenClosed()).code).toBe(1001);
    stays.ws.close();
  });

  it(`lists at most ${PRESENCE_NAMES} names while the count stays exact`, async () => {
    const room = uniqueRoom("presence-cap");
    await setRoomMode(room, "do");
    await post(room, "hello");
    const total = PRESENCE_NAMES + 5;
    // Sockets accepted by the room itself, as its upgrade path does: the test runtime caps how many
    // sockets one test can open through fetch well below a room's real limit.
    await runInDurableObject(env.ROOM.getByName(room), (_: Room, state) => {
      for (let i = 0; i < total; i++) {
        const { 0: client, 1: server } = new WebSocketPair();
        state.acceptWebSocket(server, [`client:198.51.100.${i}`]);
        server.serializeAttachment({ key: `198.51.100.${i}`, at: Date.now(), name: `person-${i}` });
        client.accept();
      }
    });
    const listed = await (await call(`/api/comments?room=${room}`)).json<{ presence: Presence }>();
    expect(listed.presence.count).toBe(total);
    expect(listed.presence.people).toHaveLength(PRESENCE_NAMES);
    expect(new Set(names(listed.presence)).size).toBe(PRESENCE_NAMES);
    await runInDurableObject(env.ROOM.getByName(room), (_: Room, state) => {
      for (const ws of state.getWebSockets()) ws.close(1000, "done");
    });
  });

  it("writes no SQLite row for presence or typing", async () => {
    const room = uniqueRoom("presence-rows");
    await setRoomMode(room, "do");
    await post(room, "hello");
    const before = await rowsWritten(room);
    expect(before).toBeGreaterThan(0);
    const page = await connect(room);
    const other = await connect(room);
    for (let i = 0; i < 5; i++) page.send({ type: "presence", name: `name-${i}` });
    page.send({ type: "typing" });
    await other.next(presenceWhere((p) => names(p).includes("name-4")));
    await other.next(frameOf("typing"));
    page.ws.close();
    await other.next(presenceWhere((p) => p.count === 1));
    expect(await rowsWritten(room)).toBe(before);
    other.ws.close();
  });
});
