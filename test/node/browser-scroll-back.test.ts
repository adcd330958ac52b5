// Scroll-back on the chat page in real Chromium against a real `wrangler dev`: a do room
// of 1,000 messages, scrolled to the top again and again, loads page after page above
// what is shown, without moving it, until the room's first message and "Start of #room".
import { describe, expect, it } from "vitest";
import { mapLimit } from "../../bench/lib/load";
import type { Message } from "../../src/shared/message";
import { useBrowserHarness } from "./support/browser-harness";
import { messageRow, postMessage, putFlags } from "./support/browser";

const harness = useBrowserHarness();
const ROOM = "scroll-back-room";
const COUNT = 1000;

describe("chat page scroll-back", () => {
  it("scrolling to the top of a 1,000-message do room loads older pages in place, back to the first message", async () => {
    const { worker } = harness;
    await putFlags(worker, { defaultMode: "kv", doPercent: 0, rooms: { [ROOM]: "do" } });
    const first = await postMessage(worker, ROOM, "the very first message");
    const rest: Message[] = [];
    await mapLimit(
      Array.from({ length: COUNT - 1 }, (_, i) => i + 1),
      8,
      async (i) => void rest.push(await postMessage(worker, ROOM, `message ${i}`)),
    );
    expect(new Set([first, ...rest].map((m) => m.id)).size).toBe(COUNT);

    const { page, seen } = await harness.newPage();
    const requests: string[] = [];
    page.on("request", (request) => {
      const url = new URL(request.url());
      if (url.pathname.startsWith("/api/")) requests.push(`${request.method()} ${url.pathname}${url.search}`);
    });
    await page.goto(`${worker.url}/r/${ROOM}`);
    const rows = page.locator("#messages > li.msg");
    await expect.poll(() => rows.count()).toBe(50);
    await expect.poll(() => page.locator("#delivery").textContent()).toBe("live");

    const marker = page.locator("#history");
    for (let round = 0; round < COUNT / 50; round++) {
      if ((await marker.textContent()) === `Start of #${ROOM}`) break;
      const before = await rows.count();
      // Where the oldest shown message sits on screen at the top: it must stay there while a page loads above it.
      const anchor = await page.evaluate(() => {
        const scroller = document.getElementById("scroller")!;
        scroller.scrollTop = 0;
        const row = document.querySelector<HTMLElement>("#messages > li.msg")!;
        return { id: row.dataset.id!, top: row.getBoundingClientRect().top };
      });
      await expect
        .poll(async () => (await rows.count()) > before || (await marker.textContent()) === `Start of #${ROOM}`)
        .toBe(true);
      const top = await page.evaluate(
        (id) => document.querySelector<HTMLElement>(`[data-id="${id}"]`)!.getBoundingClientRect().top,
        anchor.id,
      );
      expect(Math.abs(top - anchor.top)).toBeLessThanOrEqual(1);
    }

    await expect.poll(() => marker.textContent()).toBe(`Start of #${ROOM}`);
    await expect(messageRow(page, "the very first message").count()).resolves.toBe(1);
    expect(await rows.count()).toBe(COUNT);
    const shown = await rows.evaluateAll((nodes) => nodes.map((n) => (n as HTMLElement).dataset.id));
    expect(new Set(shown).size).toBe(COUNT);
    expect(shown[0]).toBe(first.id);

    // One request per older page (950 older messages, 50 a page), each before the oldest shown;
    // pages are history: nothing in them is verified or healed again.
    const pages = requests.filter((r) => r.startsWith("GET /api/comments") && r.includes("before="));
    expect(pages).toHaveLength(19);
    expect(new Set(pages).size).toBe(19);
    expect(requests.filter((r) => r.includes("add-to-cache"))).toEqual([]);
    expect(seen.errors).toEqual([]);
  });

  it("a room whose messages do not fill the box says where it starts without any scrolling", async () => {
    const { worker } = harness;
    const room = "scroll-back-short";
    await putFlags(worker, { defaultMode: "kv", doPercent: 0, rooms: { [ROOM]: "do", [room]: "do" } });
    await postMessage(worker, room, "hello");
    const { page } = await harness.newPage();
    await page.goto(`${worker.url}/r/${room}`);
    await expect.poll(() => page.locator("#history").textContent()).toBe(`Start of #${room}`);
  });
});
