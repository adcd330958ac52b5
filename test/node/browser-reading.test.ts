// Where the reader stopped, in real Chromium: the unread count in the tab title while the tab
// is in the background, the "new messages" divider when they come back (also after a reload),
// and the jump-to-latest button while scrolled up.
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { messageRow, postMessage, putFlags } from "./support/browser";
import { useBrowserHarness } from "./support/browser-harness";

const harness = useBrowserHarness();

/** What the browser does when the tab goes to the background or comes back. */
const setHidden = (page: Page, hidden: boolean) =>
  page.evaluate((value) => {
    Object.defineProperty(document, "hidden", { value, configurable: true });
    Object.defineProperty(document, "visibilityState", { value: value ? "hidden" : "visible", configurable: true });
    document.dispatchEvent(new Event("visibilitychange"));
  }, hidden);

/** The text of the message row right after the divider, or null without a divider. */
const afterDivider = (page: Page) =>
  page.evaluate(() => {
    const divider = document.querySelector("#messages .messages__divider");
    return divider?.nextElementSibling?.querySelector(".msg__text")?.textContent ?? null;
  });

describe("where the reader stopped", () => {
  it("counts unseen messages in the title while hidden, and marks them when the reader is back", async () => {
    const room = "reading-title";
    await putFlags(harness.worker, { defaultMode: "do", doPercent: 0, rooms: {} });
    await postMessage(harness.worker, room, "before you left");
    const { page } = await harness.newPage();
    await page.goto(`${harness.worker.url}/r/${room}`);
    await messageRow(page, "before you left").waitFor();
    expect(await page.title()).toBe(`#${room} · lossless-chat`);

    await setHidden(page, true);
    await postMessage(harness.worker, room, "while you were away", "ben");
    await postMessage(harness.worker, room, "and another", "ben");
    await page.waitForFunction((r) => document.title === `(2) #${r} · lossless-chat`, room);

    await setHidden(page, false);
    await page.waitForFunction((r) => document.title === `#${r} · lossless-chat`, room);
    expect(await afterDivider(page)).toBe("while you were away");
  });

  it("shows the divider above what came since the last visit, after a reload", async () => {
    const room = "reading-reload";
    await putFlags(harness.worker, { defaultMode: "do", doPercent: 0, rooms: {} });
    await postMessage(harness.worker, room, "seen on the first visit");
    const { page } = await harness.newPage();
    await page.goto(`${harness.worker.url}/r/${room}`);
    await messageRow(page, "seen on the first visit").waitFor();
    expect(await afterDivider(page)).toBeNull();

    await page.goto("about:blank");
    await postMessage(harness.worker, room, "new since then", "ben");
    await page.goto(`${harness.worker.url}/r/${room}`);
    await messageRow(page, "new since then").waitFor();
    expect(await afterDivider(page)).toBe("new since then");
  });

  it("offers a jump to the latest while scrolled up, counting what arrived", async () => {
    const room = "reading-jump";
    await putFlags(harness.worker, { defaultMode: "do", doPercent: 0, rooms: {} });
    for (let i = 0; i < 30; i++) await postMessage(harness.worker, room, `line ${i}\nsecond line\nthird line`);
    const { page } = await harness.newPage({ viewport: { width: 800, height: 600 } });
    await page.goto(`${harness.worker.url}/r/${room}`);
    await messageRow(page, "line 29").waitFor();
    // At the newest message (the page keeps it there while notices above settle): no jump offered.
    const jump = page.getByRole("button", { name: /Latest|new/ });
    await jump.waitFor({ state: "hidden" });

    await page.locator("#scroller").evaluate((scroller) => (scroller.scrollTop = 0));
    await jump.filter({ hasText: "Latest ↓" }).waitFor();
    await postMessage(harness.worker, room, "arrived while scrolled up", "ben");
    await jump.filter({ hasText: "1 new ↓" }).waitFor();
    await jump.click();
    await jump.waitFor({ state: "hidden" });
    expect(await messageRow(page, "arrived while scrolled up").isVisible()).toBe(true);
  });
});
