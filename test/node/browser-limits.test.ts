// The post limit and the socket caps as a person meets them, in real Chromium against
// a real `wrangler dev` with the limits on for loopback. A burst of 2 × limit + 1
// messages from the composer (more than the limit falls into one window even across a
// window boundary) makes the page say "slow down", keep every text in the list, and
// send each one — with its id — once the server allows: over the socket (nack 429 +
// retryAfter) and over HTTP (429 + Retry-After). A room that refuses the page's socket
// (over its socket caps): the page polls and posts over HTTP, and does not hammer it.
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import type { Flags } from "../../src/shared/flags";
import type { ServerFrame } from "../../src/shared/frames";
import { TOO_MANY_SOCKETS_CLOSE } from "../../src/shared/frames";
import {
  ROOM_SOCKET_URL,
  api,
  listRoom,
  ownState,
  parseFrame,
  putFlags,
  sendFromPage,
  watchSends,
} from "./support/browser";
import { useBrowserHarness } from "./support/browser-harness";

/** POST_LIMITER's limit in wrangler.toml. */
const POST_LIMIT = 20;
const BURST = 2 * POST_LIMIT + 1;

const harness = useBrowserHarness({ vars: { RATE_LIMIT_EXEMPT: "" } });
const flags: Flags = { defaultMode: "kv", doPercent: 0, rooms: {} };

/** A fresh profile, not navigated yet, for a room set to `mode`. */
async function freshPage(room: string, mode: "kv" | "do") {
  flags.rooms[room] = mode;
  await putFlags(harness.worker, flags);
  return harness.newPage();
}

/** Types and sends `count` messages in one go, as fast as the composer takes them. */
function burst(page: Page, prefix: string, count: number): Promise<void> {
  return page.evaluate(
    ({ prefix, count }) => {
      const box = document.getElementById("message") as HTMLTextAreaElement;
      const form = document.getElementById("composer") as HTMLFormElement;
      for (let i = 0; i < count; i++) {
        box.value = `${prefix} ${i}`;
        form.requestSubmit();
      }
    },
    { prefix, count },
  );
}

const ownRows = (page: Page, prefix: string) =>
  page.locator("#messages li.msg--own", { has: page.locator(".msg__text", { hasText: prefix }) });

/** Waits until every own row shows one of `states` (the page's own labels). */
const allIn = (page: Page, prefix: string, states: string[]) =>
  page.waitForFunction(
    ({ prefix, count, states }) => {
      const rows = Array.from(document.querySelectorAll("#messages li.msg--own")).filter((row) =>
        row.querySelector(".msg__text")?.textContent?.startsWith(prefix),
      );
      return (
        rows.length === count &&
        rows.every((row) => states.some((state) => row.querySelector(`.msg__state.state--${state}`)))
      );
    },
    { prefix, count: BURST, states },
    { timeout: 60_000 },
  );

/** While the page is slowed down: the notice says so, and every text is still in the list. */
async function expectSlowedDown(page: Page, prefix: string): Promise<void> {
  await page.locator("#notice", { hasText: "Sending too fast — slowing down…" }).waitFor();
  await page.locator(".msg__state.state--waiting", { hasText: "waiting…" }).first().waitFor();
  expect(await ownRows(page, prefix).count()).toBe(BURST);
  expect(await page.locator("#composer-error").isHidden()).toBe(true);
}

describe("sending too fast", () => {
  it("over the socket: says slow down, keeps every text and sends each once when allowed", async () => {
    const room = "slow-socket-room";
    const { page, seen } = await freshPage(room, "do");
    const nacks: Extract<ServerFrame, { type: "nack" }>[] = [];
    page.on("websocket", (ws) =>
      ws.on("framereceived", ({ payload }) => {
        const frame = parseFrame<ServerFrame>(payload);
        if (frame?.type === "nack") nacks.push(frame);
      }),
    );
    await page.goto(`${harness.worker.url}/r/${room}?poll=600000`);
    await page.locator("#delivery", { hasText: "live" }).waitFor();

    await burst(page, "socket burst", BURST);
    await expectSlowedDown(page, "socket burst");
    await allIn(page, "socket burst", ["verified"]);

    expect(nacks.length).toBeGreaterThan(0);
    for (const nack of nacks) expect(nack).toMatchObject({ status: 429, retryAfter: expect.any(Number) });
    const stored = (await listRoom(harness.worker, room)).comments.map((m) => m.text);
    expect(stored.sort()).toEqual(Array.from({ length: BURST }, (_, i) => `socket burst ${i}`).sort());
    expect(await page.locator("#notice").isHidden()).toBe(true);
    expect(seen.errors).toEqual([]);
  });

  it("over HTTP: waits out Retry-After, keeps every text and posts each once when allowed", async () => {
    const room = "slow-http-room";
    const { page, seen } = await freshPage(room, "kv");
    const limited: string[] = [];
    page.on("response", (response) => {
      if (response.status() === 429 && new URL(response.url()).pathname === "/api/comments")
        limited.push(response.headers()["retry-after"] ?? "");
    });
    await page.goto(`${harness.worker.url}/r/${room}?poll=600000`);
    await page.locator("#delivery", { hasText: "polling" }).waitFor();

    await burst(page, "http burst", BURST);
    await expectSlowedDown(page, "http burst");
    // Acknowledged (the kv path may still be verifying or healing some of them).
    await allIn(page, "http burst", ["sent", "verified", "healing"]);

    expect(limited.length).toBeGreaterThan(0);
    for (const retryAfter of limited) expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    // Every message has its KV record, stored once under the id the page chose.
    const ids = await ownRows(page, "http burst").evaluateAll((rows) =>
      rows.map((row) => row.getAttribute("data-id")!),
    );
    expect(new Set(ids).size).toBe(BURST);
    const texts = await Promise.all(
      ids.map(
        async (id) =>
          (await api<{ text: string }>(harness.worker, `/api/comments/${id}?room=${room}&record=1`)).body.text,
      ),
    );
    expect(texts.sort()).toEqual(Array.from({ length: BURST }, (_, i) => `http burst ${i}`).sort());
    expect(seen.errors.filter((e) => !e.includes("429"))).toEqual([]);
  });
});

describe("a room that refuses the page's socket", () => {
  it("polls and posts over HTTP instead, without reconnecting at once", async () => {
    const room = "refused-socket-room";
    const { page, seen } = await freshPage(room, "do");
    let attempts = 0;
    // The room's answer past its per-client cap: accepted, then closed with 4429 and a reason.
    await page.routeWebSocket(ROOM_SOCKET_URL, (ws) => {
      attempts++;
      void ws.close({
        code: TOO_MANY_SOCKETS_CLOSE,
        reason: "too many sockets from your address in this room (20); poll instead",
      });
    });
    const sends = watchSends(page);
    await page.goto(`${harness.worker.url}/r/${room}?poll=1000`);
    await page.locator("#delivery", { hasText: "polling" }).waitFor();

    await sendFromPage(page, "sent while the room is full");
    await ownState(page, "sent while the room is full").filter({ hasText: "verified" }).waitFor({ timeout: 20_000 });
    expect(sends.posted).toHaveLength(1);
    expect(sends.frames).toEqual([]);
    // The next try comes a minute or more later, not on the reconnect backoff (1 s, 2 s, …).
    expect(attempts).toBe(1);
    expect(await page.locator("#delivery").textContent()).toBe("polling");
    expect(seen.errors.filter((e) => !e.includes("WebSocket"))).toEqual([]);
  });
});
