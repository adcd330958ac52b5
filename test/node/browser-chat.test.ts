// The chat page in real Chromium against a real `wrangler dev`: sends over the room
// socket and push in do mode, polling in kv mode, verification and healing of a really
// lost message (also across a reload), a deleted one dropped on the next kv poll and no
// longer verified, text-only
// rendering, keyboard use and rejections.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Flags } from "../../src/shared/flags";
import type { PathMode, Message } from "../../src/shared/message";
import { startLocalWorker, type LocalWorker } from "../../scripts/local-worker";
import {
  api,
  launchChromium,
  listRoom,
  messageRow,
  overwriteRoomCache,
  ownState,
  pendingIds,
  postMessage,
  putFlags,
  sendFromPage as send,
  watchPage,
  watchSends,
} from "./support/browser";

let worker: LocalWorker;
let browser: Browser;
let persistTo: string;
const contexts: BrowserContext[] = [];
const flags: Flags = { defaultMode: "kv", doPercent: 0, rooms: {} };

beforeAll(async () => {
  persistTo = mkdtempSync(join(tmpdir(), "lossless-chat-browser-"));
  [worker, browser] = await Promise.all([startLocalWorker({ persistTo }), launchChromium()]);
});

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  rmSync(persistTo, { recursive: true, force: true });
});

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((c) => c.close()));
});

async function setRoomMode(room: string, mode: PathMode): Promise<void> {
  flags.rooms[room] = mode;
  await putFlags(worker, flags);
}

/**
 * A fresh browser profile (own localStorage) showing `path`, with its errors and dialogs
 * watched; `beforeLoad` sees the page first (a socket is only reported when it opens).
 */
async function openPage(
  path: string,
  beforeLoad?: (page: Page) => unknown,
): Promise<{ page: Page; context: BrowserContext; seen: ReturnType<typeof watchPage> }> {
  const context = await browser.newContext();
  contexts.push(context);
  const page = await context.newPage();
  const seen = watchPage(page);
  await beforeLoad?.(page);
  await page.goto(`${worker.url}${path}`);
  return { page, context, seen };
}

describe("chat page", () => {
  it("reads the room from /r/<room>, ?room= and defaults to lobby", async () => {
    const { page } = await openPage("/r/path-room");
    await page.locator("#room-title", { hasText: "#path-room" }).waitFor();
    await page.goto(`${worker.url}/?room=query-room`);
    await page.locator("#room-title", { hasText: "#query-room" }).waitFor();
    await page.goto(`${worker.url}/`);
    await page.locator("#room-title", { hasText: "#lobby" }).waitFor();
    expect(await page.title()).toBe("#lobby · lossless-chat");
  });

  it("sends over the room socket in a do-mode room and pushes the message to another page at once", async () => {
    await setRoomMode("live-room", "do");
    let sends!: ReturnType<typeof watchSends>;
    const a = await openPage("/r/live-room", (page) => (sends = watchSends(page)));
    const b = await openPage("/r/live-room");
    for (const { page } of [a, b]) {
      await page.locator("#mode", { hasText: "do" }).waitFor();
      await page.locator("#delivery", { hasText: "live" }).waitFor();
    }
    let reloads = 0;
    b.page.on("framenavigated", () => reloads++);

    await send(a.page, "hello from page A");
    // A functional bound: a push, not a 5–7 s poll, can make this.
    await messageRow(b.page, "hello from page A").waitFor({ state: "visible", timeout: 1000 });
    await ownState(a.page, "hello from page A").filter({ hasText: "verified" }).waitFor();

    expect(reloads).toBe(0);
    expect(await messageRow(b.page, "hello from page A").locator(".msg__state").count()).toBe(0);
    expect(await pendingIds(a.page)).toEqual([]);
    // Up the socket, acknowledged there: no POST /api/comments at all.
    expect(sends.posted).toEqual([]);
    expect(sends.frames.map((f) => f.text)).toEqual(["hello from page A"]);
    const stored = (await listRoom(worker, "live-room")).comments.filter((m) => m.text === "hello from page A");
    expect(stored.map((m) => m.id)).toEqual([sends.frames[0]!.id]);
    expect([...a.seen.errors, ...b.seen.errors]).toEqual([]);
  });

  it("delivers by polling in a kv-mode room, with no socket", async () => {
    await setRoomMode("poll-room", "kv");
    const a = await openPage("/r/poll-room?poll=1000");
    const b = await openPage("/r/poll-room?poll=1000");
    const sockets: string[] = [];
    b.page.on("websocket", (ws) => sockets.push(ws.url()));
    for (const { page } of [a, b]) {
      await page.locator("#mode", { hasText: "kv" }).waitFor();
      await page.locator("#delivery", { hasText: "polling" }).waitFor();
    }

    await send(a.page, "hello by polling");
    await messageRow(b.page, "hello by polling").waitFor({ timeout: 15_000 });
    await ownState(a.page, "hello by polling").filter({ hasText: "verified" }).waitFor({ timeout: 15_000 });
    expect(sockets).toEqual([]);
  });

  it("polls on its cadence while it keeps posting: an acknowledgement never pushes the next poll back", async () => {
    await setRoomMode("busy-poster", "kv");
    const polls: string[] = [];
    // The page's clock is Playwright's: 15 s of page time pass exactly as the test says.
    const { page } = await openPage("/r/busy-poster", async (page) => {
      await page.clock.install();
      page.on("request", (request) => {
        if (request.method() === "GET" && request.url().includes("/api/comments?")) polls.push(request.url());
      });
    });
    await page.locator("#mode", { hasText: "kv" }).waitFor();
    const afterLoad = polls.length;

    // A message acknowledged every 3 s, under the 5–7 s poll interval, for 30 s of page time.
    // (A poll's answer takes real time while the page clock is moved on, so a poll may come
    // a little later than its timer: 30 s leaves room for that; pushing back gives none.)
    for (let i = 1; i <= 10; i++) {
      await send(page, `busy ${i}`);
      await ownState(page, `busy ${i}`)
        .filter({ hasText: /^(sent|verified)$/ })
        .waitFor();
      await page.clock.runFor(3_000);
    }

    // 30 s on a 5–7 s cadence: at least two polls (an ack that pushed the poll back would leave
    // none), and the first one verified the first message.
    await ownState(page, "busy 1").filter({ hasText: "verified" }).waitFor({ timeout: 10_000 });
    expect(polls.length - afterLoad).toBeGreaterThanOrEqual(2);
  });

  it("heals its own message when the room's cache lost it, then shows it verified", async () => {
    await setRoomMode("heal-room", "kv");
    await postMessage(worker, "heal-room", "someone else was here first");
    // A poll this slow never runs during the test: only the events below make the page check.
    const { page, context } = await openPage("/r/heal-room?poll=600000");
    await page.locator("#mode", { hasText: "kv" }).waitFor();

    await send(page, "please do not lose me");
    await ownState(page, "please do not lose me")
      .filter({ hasText: /^sent$/ })
      .waitFor();
    const [id] = await pendingIds(page);
    expect(id).toBeTruthy();

    // A losing concurrent writer: cache:<room> rewritten from a list that lacks the message.
    const before = await listRoom(worker, "heal-room");
    expect(before.comments.map((m) => m.id)).toContain(id);
    overwriteRoomCache(
      persistTo,
      "heal-room",
      before.comments.filter((m) => m.id !== id),
    );
    expect((await listRoom(worker, "heal-room")).comments.map((m) => m.id)).not.toContain(id);

    // Coming back online makes the page check now: it finds the id missing and heals it.
    await context.setOffline(true);
    await context.setOffline(false);
    await ownState(page, "please do not lose me").filter({ hasText: "verified" }).waitFor({ timeout: 20_000 });

    expect((await listRoom(worker, "heal-room")).comments.map((m) => m.id)).toContain(id);
    expect(await pendingIds(page)).toEqual([]);
    // Stats land in the store in batches (locally every few seconds): wait, bounded, for the heal.
    let readded = 0;
    for (
      const deadline = Date.now() + 20_000;
      Date.now() < deadline && readded < 1;
      await new Promise((r) => setTimeout(r, 500))
    ) {
      const stats = await api<{ modes: Record<PathMode, { healsReadded: number }> }>(worker, "/api/admin/stats", {
        token: worker.adminToken,
      });
      readded = stats.body.modes.kv.healsReadded;
    }
    expect(readded).toBeGreaterThanOrEqual(1);
  });

  it("keeps verifying a pending message after a reload", async () => {
    await setRoomMode("reload-room", "kv");
    const { page } = await openPage("/r/reload-room?poll=600000");
    await page.locator("#mode", { hasText: "kv" }).waitFor();
    await send(page, "survive the reload");
    await ownState(page, "survive the reload")
      .filter({ hasText: /^sent$/ })
      .waitFor();
    const [id] = await pendingIds(page);
    const listed = await listRoom(worker, "reload-room");
    overwriteRoomCache(
      persistTo,
      "reload-room",
      listed.comments.filter((m) => m.id !== id),
    );

    await page.reload();
    // After the reload only localStorage knows the message: the page shows it and heals it.
    await messageRow(page, "survive the reload").waitFor();
    await ownState(page, "survive the reload").filter({ hasText: "verified" }).waitFor({ timeout: 20_000 });
    expect(await pendingIds(page)).toEqual([]);
    expect((await listRoom(worker, "reload-room")).comments.map((m) => m.id)).toContain(id);
  });

  it("drops a message an operator deleted on its next poll in a kv room (no pushes): someone else's, and one of ours still being verified, without a heal", async () => {
    await setRoomMode("kv-delete-room", "kv");
    await postMessage(worker, "kv-delete-room", "a friendly message");
    const spam = await postMessage(worker, "kv-delete-room", "someone else's spam");
    // A poll this slow never runs during the test: only going back online makes the page poll.
    const { page, context, seen } = await openPage("/r/kv-delete-room?poll=600000");
    await page.locator("#mode", { hasText: "kv" }).waitFor();
    await messageRow(page, "someone else's spam").waitFor();
    await send(page, "mine, deleted before it is verified");
    await ownState(page, "mine, deleted before it is verified")
      .filter({ hasText: /^sent$/ })
      .waitFor();
    const [mine] = await pendingIds(page);
    const heals: string[] = [];
    page.on(
      "request",
      (req) => void (new URL(req.url()).pathname === "/api/admin/add-to-cache" && heals.push(req.url())),
    );
    for (const id of [spam.id, mine]) {
      const removed = await api<{ deleted: boolean }>(worker, `/api/admin/messages/${id}?room=kv-delete-room`, {
        method: "DELETE",
        token: worker.adminToken,
      });
      expect([removed.status, removed.body.deleted]).toEqual([200, true]);
    }

    const polled = page.waitForResponse(
      (res) => new URL(res.url()).pathname === "/api/comments" && res.request().method() === "GET",
    );
    await context.setOffline(true);
    await context.setOffline(false);
    const { comments } = (await (await polled).json()) as { comments: Message[] };
    expect(comments.filter((m) => m.deleted).map((m) => m.id)).toEqual([spam.id, mine]);
    await messageRow(page, "someone else's spam").waitFor({ state: "detached" });
    await messageRow(page, "mine, deleted before it is verified").waitFor({ state: "detached" });
    expect(await messageRow(page, "a friendly message").count()).toBe(1);
    expect(await pendingIds(page)).toEqual([]);
    expect(heals).toEqual([]);
    expect(seen.errors).toEqual([]);
  });

  it("stops verifying its own message once an operator deleted it and a racy writer dropped the tombstone: the heal's 410 is final, and the row goes", async () => {
    await setRoomMode("deleted-room", "kv");
    const { page, context } = await openPage("/r/deleted-room?poll=600000");
    await page.locator("#mode", { hasText: "kv" }).waitFor();
    await send(page, "an operator will delete this");
    await ownState(page, "an operator will delete this")
      .filter({ hasText: /^sent$/ })
      .waitFor();
    const [id] = await pendingIds(page);
    const before = await listRoom(worker, "deleted-room");
    const removed = await api<{ deleted: boolean }>(worker, `/api/admin/messages/${id}?room=deleted-room`, {
      method: "DELETE",
      token: worker.adminToken,
    });
    expect([removed.status, removed.body.deleted]).toEqual([200, true]);
    // A losing concurrent writer that read the list before the message: its tombstone is gone from cache:<room>.
    overwriteRoomCache(
      persistTo,
      "deleted-room",
      before.comments.filter((m) => m.id !== id),
    );

    // The next check finds the id missing and asks for a heal, which answers 410: final.
    const healed = page.waitForResponse((res) => res.url().endsWith("/api/admin/add-to-cache"));
    await context.setOffline(true);
    await context.setOffline(false);
    expect((await healed).status()).toBe(410);
    await messageRow(page, "an operator will delete this").waitFor({ state: "detached" });
    expect(await pendingIds(page)).toEqual([]);
  });

  it("resends a POST with the same id when its answer is lost, so the message is stored once", async () => {
    // kv: the page posts over HTTP (a lost socket ack is tested in browser-socket-send.test.ts).
    await setRoomMode("retry-room", "kv");
    const { page } = await openPage("/r/retry-room?poll=1000");
    await page.locator("#mode", { hasText: "kv" }).waitFor();
    const posted: string[] = [];
    let answersLost = 0;
    await page.route(
      (url) => url.pathname === "/api/comments",
      async (route) => {
        if (route.request().method() !== "POST") return route.continue();
        posted.push(JSON.parse(route.request().postData() ?? "{}").id);
        if (answersLost > 0) return route.continue();
        // The server stores the message, but its answer never reaches the page.
        answersLost++;
        await route.fetch();
        await route.abort("connectionreset");
      },
    );
    await send(page, "said once, sent twice");
    await ownState(page, "said once, sent twice").filter({ hasText: "verified" }).waitFor({ timeout: 15_000 });

    expect(posted.length).toBeGreaterThanOrEqual(2);
    expect(new Set(posted).size).toBe(1);
    const stored = (await listRoom(worker, "retry-room")).comments.filter((m) => m.text === "said once, sent twice");
    expect(stored.map((m) => m.id)).toEqual([posted[0]]);
    expect(await messageRow(page, "said once, sent twice").count()).toBe(1);
  });

  it("shows markup as text: no element is created, no script runs, no dialog opens", async () => {
    await setRoomMode("xss-room", "do");
    const attacks = ["<img src=x onerror=alert(1)>", "<script>window.__pwned = true; alert(2)</script>"];
    await postMessage(worker, "xss-room", attacks[0]!, "<b>mallory</b>");
    const { page, seen } = await openPage("/r/xss-room");
    await page.locator("#delivery", { hasText: "live" }).waitFor();
    await send(page, attacks[1]!);
    for (const text of attacks) {
      await messageRow(page, text).waitFor();
      expect(await messageRow(page, text).locator(".msg__text").textContent()).toBe(text);
    }
    expect(await page.locator(".msg__author", { hasText: "<b>mallory</b>" }).count()).toBe(1);
    expect(await page.locator("#messages img, #messages script, #messages b").count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: boolean }).__pwned)).toBeUndefined();
    expect(seen.dialogs).toEqual([]);
    expect(seen.errors).toEqual([]);
  });

  it("sends with Enter, adds a line with Shift+Enter, and remembers the name", async () => {
    await setRoomMode("keys-room", "do");
    const { page } = await openPage("/r/keys-room");
    await page.locator("#delivery", { hasText: "live" }).waitFor();
    await page.getByRole("textbox", { name: "Name" }).fill("Keyboard Kate");
    const box = page.getByRole("textbox", { name: "Message" });
    await box.focus();
    await page.keyboard.type("line one");
    await page.keyboard.press("Shift+Enter");
    await page.keyboard.type("line two");
    await page.keyboard.press("Enter");
    const row = messageRow(page, "line one");
    await row.locator(".state--verified").waitFor();
    expect(await row.locator(".msg__text").textContent()).toBe("line one\nline two");
    expect(await row.locator(".msg__author").textContent()).toBe("Keyboard Kate");
    expect(await box.inputValue()).toBe("");
    await page.reload();
    expect(await page.getByRole("textbox", { name: "Name" }).inputValue()).toBe("Keyboard Kate");
  });

  it("shows the server's reason when it rejects a message, and gives the text back", async () => {
    const { page } = await openPage("/r/reject-room");
    await page.locator("#mode", { hasText: "kv" }).waitFor();
    const tooLong = "x".repeat(4001);
    await send(page, tooLong);
    const error = page.getByRole("alert").filter({ hasText: "Not sent" });
    await error.waitFor();
    expect(await error.textContent()).toContain("at most 4000");
    expect(await page.getByRole("textbox", { name: "Message" }).inputValue()).toBe(tooLong);
    expect(await page.locator("#messages li.msg").count()).toBe(0);
    expect(await pendingIds(page)).toEqual([]);
  });
});
