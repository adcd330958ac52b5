// Writes over the room socket in real Chromium against a real `wrangler dev`: a send
// whose ack is lost (silently, or with its connection) is sent again with the same id
// and stored once; a room that left do mode nacks the send and the page posts over
// HTTP instead.
// Playwright's WebSocket routing passes frames through to the room, except the ones a
// test drops, and records what went each way.
import type { Page, WebSocketRoute } from "playwright-core";
import { describe, expect, it } from "vitest";
import type { SendFrame, ServerFrame } from "../../src/shared/frames";
import type { Flags } from "../../src/shared/flags";
import {
  ROOM_SOCKET_URL,
  listRoom,
  messageRow,
  ownState,
  parseFrame,
  pendingIds,
  putFlags,
  sendFromPage,
  watchSends,
} from "./support/browser";
import { useBrowserHarness } from "./support/browser-harness";

type AckFrame = Extract<ServerFrame, { type: "ack" }>;
type NackFrame = Extract<ServerFrame, { type: "nack" }>;

const harness = useBrowserHarness();
const flags: Flags = { defaultMode: "kv", doPercent: 0, rooms: {} };

async function setRoomMode(room: string, mode: "kv" | "do"): Promise<void> {
  flags.rooms[room] = mode;
  await putFlags(harness.worker, flags);
}

/** A `send` frame as the page put it on its socket, and which connection (1 = the first) carried it. */
type SentFrame = SendFrame & { connection: number };

/**
 * A fresh profile showing the room, its socket routed through `relay`: the page's frames
 * go to the room as they are, the room's frames reach the page only if `relay` says so.
 */
async function openRoutedPage(path: string, relay: (frame: ServerFrame | null, page: WebSocketRoute) => boolean) {
  const { page, seen } = await harness.newPage();
  const sent: SentFrame[] = [];
  let connections = 0;
  await page.routeWebSocket(ROOM_SOCKET_URL, (ws) => {
    const connection = ++connections;
    const server = ws.connectToServer();
    ws.onMessage((data) => {
      const frame = parseFrame<SendFrame>(data);
      if (frame?.type === "send") sent.push({ ...frame, connection });
      server.send(data);
    });
    server.onMessage((data) => {
      if (relay(parseFrame<ServerFrame>(data), ws)) ws.send(data);
    });
  });
  const sends = watchSends(page);
  await page.goto(`${harness.worker.url}${path}`);
  return { page, seen, sent, posted: sends.posted, connections: () => connections };
}

const live = (page: Page) => page.locator("#delivery", { hasText: "live" }).waitFor();

/** Acks the room sent, the first of them withheld from the page (`onLost` decides what else happens). */
function loseFirstAck(onLost: (ws: WebSocketRoute) => void) {
  const acks: AckFrame[] = [];
  const relay = (frame: ServerFrame | null, ws: WebSocketRoute) => {
    if (frame?.type !== "ack") return true;
    acks.push(frame);
    if (acks.length > 1) return true;
    onLost(ws);
    return false;
  };
  return { acks, relay };
}

async function expectStoredOnce(room: string, text: string, id: string): Promise<void> {
  const stored = (await listRoom(harness.worker, room)).comments.filter((m) => m.text === text);
  expect(stored.map((m) => m.id)).toEqual([id]);
}

describe("writes over the room socket", () => {
  it("sends again over the same socket when an ack never comes, and the room stores the message once", async () => {
    const room = "silent-ack-room";
    await setRoomMode(room, "do");
    // The room stored the message, but its ack is lost while the connection stays up.
    const { acks, relay } = loseFirstAck(() => undefined);
    // Polls are out of the picture: only the socket and the page's own sending act.
    const { page, seen, sent, posted, connections } = await openRoutedPage(`/r/${room}?poll=600000`, relay);
    await live(page);

    await sendFromPage(page, "acked into the void");
    await ownState(page, "acked into the void").filter({ hasText: "verified" }).waitFor({ timeout: 20_000 });

    const id = sent[0]!.id;
    // No answer within 5 s, the socket still open: the same id again, on the same connection.
    expect(sent.map((f) => [f.id, f.connection])).toEqual([
      [id, 1],
      [id, 1],
    ]);
    expect(acks.map((ack) => [ack.id, ack.created])).toEqual([
      [id, true],
      [id, false],
    ]);
    expect(posted).toEqual([]);
    expect(connections()).toBe(1);
    await expectStoredOnce(room, "acked into the void", id);
    expect(await messageRow(page, "acked into the void").count()).toBe(1);
    expect(await pendingIds(page)).toEqual([]);
    expect(seen.errors).toEqual([]);
  });

  it("after the connection drops with the ack, sends the same id again over the reconnected socket", async () => {
    const room = "lost-ack-room";
    await setRoomMode(room, "do");
    // The room stored the message, but the connection dies before its ack reaches the page.
    const { acks, relay } = loseFirstAck((ws) => void ws.close({ code: 4000, reason: "test: connection lost" }));
    const { page, seen, sent, posted, connections } = await openRoutedPage(`/r/${room}?poll=600000`, relay);
    // HTTP is down too, so only the reconnected socket can carry the resend.
    await page.route(
      (url) => url.pathname === "/api/comments",
      (route) => (route.request().method() === "POST" ? route.abort("connectionrefused") : route.continue()),
    );
    await live(page);

    await sendFromPage(page, "said once over a flaky socket");
    // While the socket is down each refused POST doubles the page's wait (1, 2, 4, 8, 16 s, jittered down to half):
    // on a slow machine the resend may only come after five of them, about 31 s at worst.
    await ownState(page, "said once over a flaky socket").filter({ hasText: "verified" }).waitFor({ timeout: 60_000 });

    const id = sent[0]!.id;
    expect(sent[0]!.connection).toBe(1);
    expect(connections()).toBeGreaterThanOrEqual(2);
    expect(sent.slice(1).map((f) => [f.id, f.connection])).toEqual([[id, connections()]]);
    expect(acks.map((ack) => [ack.id, ack.created])).toEqual([
      [id, true],
      [id, false],
    ]);
    // Any POST tried while the socket was down carried the same id.
    expect(posted.every((postedId) => postedId === id)).toBe(true);
    await expectStoredOnce(room, "said once over a flaky socket", id);
    expect(await messageRow(page, "said once over a flaky socket").count()).toBe(1);
    expect(await pendingIds(page)).toEqual([]);
    expect(seen.errors.filter((e) => !e.includes("WebSocket") && !e.includes("ERR_CONNECTION_REFUSED"))).toEqual([]);
  });

  it("posts over HTTP, with the same id, when the room left do mode and nacks the send with 409", async () => {
    const room = "flipped-room";
    await setRoomMode(room, "do");
    const nacks: NackFrame[] = [];
    // The `mode` frame is withheld: the page keeps its socket and learns of the flip from the nack.
    const { page, seen, sent, posted } = await openRoutedPage(`/r/${room}?poll=600000`, (frame) => {
      if (frame?.type === "nack") nacks.push(frame);
      return frame?.type !== "mode";
    });
    await live(page);
    await setRoomMode(room, "kv");

    await sendFromPage(page, "sent after the flip");
    await ownState(page, "sent after the flip")
      .filter({ hasText: /^sent$/ })
      .waitFor();
    const id = sent[0]!.id;
    expect(sent).toHaveLength(1);
    expect(nacks).toMatchObject([{ id, status: 409, mode: "kv" }]);
    expect(posted).toEqual([id]);
    // Acknowledged over HTTP, so pending until the page sees it in the room (the verification layer).
    expect(await pendingIds(page)).toEqual([id]);

    // The nack told the page the room's mode: the next message goes straight to HTTP.
    await sendFromPage(page, "and straight to HTTP");
    await ownState(page, "and straight to HTTP")
      .filter({ hasText: /^sent$/ })
      .waitFor();
    expect(sent).toHaveLength(1);
    expect(posted).toHaveLength(2);

    expect((await listRoom(harness.worker, room)).mode).toBe("kv");
    await expectStoredOnce(room, "sent after the flip", id);
    await expectStoredOnce(room, "and straight to HTTP", posted[1]!);
    expect(seen.errors.filter((e) => !e.includes("WebSocket"))).toEqual([]);
  });
});
