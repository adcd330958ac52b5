// The chat page's socket in real Chromium: when the connection drops it reconnects
// with backoff and catches up with `since` on what it missed meanwhile. Playwright's
// WebSocket routing cuts the connection and refuses reconnects at will; frames pass
// through to the real `wrangler dev` untouched.
import type { Browser, WebSocketRoute } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalWorker, type LocalWorker } from "../../scripts/local-worker";
import { launchChromium, messageRow, postMessage, putFlags, watchPage } from "./support/browser";

let worker: LocalWorker;
let browser: Browser;

beforeAll(async () => {
  [worker, browser] = await Promise.all([startLocalWorker(), launchChromium()]);
});

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
});

describe("chat page socket", () => {
  it("reconnects after the connection drops and catches up with `since` on what it missed", async () => {
    const room = "reconnect-room";
    await putFlags(worker, { defaultMode: "kv", doPercent: 0, rooms: { [room]: "do" } });
    const context = await browser.newContext();
    const page = await context.newPage();
    const seen = watchPage(page);

    let refuse = false;
    let attempts = 0;
    let current: WebSocketRoute | null = null;
    await page.routeWebSocket(/\/api\/rooms\/[^/]+\/ws$/, (ws) => {
      attempts++;
      if (refuse) return ws.close({ code: 1011, reason: "test: connection refused" });
      current = ws;
      ws.connectToServer();
    });
    const catchUps: string[] = [];
    page.on("request", (request) => {
      if (request.url().includes("since=")) catchUps.push(request.url());
    });

    // Polling is pushed out of the picture: only the socket (or its catch-up) can deliver.
    await page.goto(`${worker.url}/r/${room}?poll=600000`);
    const delivery = page.locator("#delivery");
    await delivery.filter({ hasText: "live" }).waitFor();
    await postMessage(worker, room, "pushed while connected");
    await messageRow(page, "pushed while connected").waitFor();

    refuse = true;
    current!.close({ code: 1006, reason: "test: connection lost" });
    await delivery.filter({ hasNotText: "live" }).waitFor();
    const refusedBefore = attempts;
    await postMessage(worker, room, "sent while the page was cut off");
    // Let at least one reconnect attempt be refused (backoff keeps trying).
    await expect.poll(() => attempts, { timeout: 10_000 }).toBeGreaterThan(refusedBefore);
    expect(await messageRow(page, "sent while the page was cut off").count()).toBe(0);

    refuse = false;
    await messageRow(page, "sent while the page was cut off").waitFor({ timeout: 40_000 });
    await delivery.filter({ hasText: "live" }).waitFor();
    expect(catchUps.length).toBeGreaterThan(0);
    expect(catchUps.every((url) => url.includes(`room=${room}`))).toBe(true);

    // And the new connection is live: a later message arrives by push again.
    await postMessage(worker, room, "pushed after reconnecting");
    await messageRow(page, "pushed after reconnecting").waitFor({ timeout: 2000 });
    expect(await messageRow(page, "sent while the page was cut off").count()).toBe(1);
    expect(seen.errors.filter((e) => !e.includes("WebSocket"))).toEqual([]);
    await context.close();
  });
});
