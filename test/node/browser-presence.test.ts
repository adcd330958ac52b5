// Presence on the chat page in real Chromium against a real `wrangler dev`: two people see each
// other by name, typing shows on the other page and goes when the message lands, and the page
// says when no bot is answering the room until a bot asks it for work. A page whose browser is
// killed (no close frame) leaves the others' presence.
import { chromium, type Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { SOCKET_SILENT_MS } from "../../src/shared/cadence";
import { api, CHROMIUM_ARGS, CHROMIUM_PATH, postMessage, putFlags, sendFromPage } from "./support/browser";
import { useBrowserHarness } from "./support/browser-harness";

const harness = useBrowserHarness();

/** A page in its own profile with `name` in the composer, showing `room`. */
async function personIn(room: string, name: string): Promise<Page> {
  const { page } = await harness.newPage();
  await page.addInitScript((n) => localStorage.setItem("displayName", n), name);
  await page.goto(`${harness.worker.url}/r/${room}`);
  return page;
}

const presence = (page: Page) => page.locator("#presence");

describe("presence on the chat page", () => {
  it("shows who is here, who is typing, and whether a bot answers", async () => {
    const room = "presence-page";
    await putFlags(harness.worker, { defaultMode: "do", doPercent: 0, rooms: {} });
    await postMessage(harness.worker, room, "the room exists");
    const ana = await personIn(room, "ana");
    const ben = await personIn(room, "ben");

    await presence(ana).filter({ hasText: "2 here" }).filter({ hasText: "ben" }).waitFor();
    await presence(ben).filter({ hasText: "2 here" }).filter({ hasText: "ana" }).waitFor();
    // Nobody polls this room for work: both pages say so.
    await ana.locator("#no-bot").waitFor({ state: "visible" });

    await ben.getByRole("textbox", { name: "Message" }).pressSequentially("hel");
    await ana.locator("#typing", { hasText: "ben is typing…" }).waitFor();
    expect(await ben.locator("#typing").textContent()).toBe("");
    await ben.getByRole("textbox", { name: "Message" }).fill("");
    await sendFromPage(ben, "hello from ben");
    await ana.locator("#messages li.msg", { hasText: "hello from ben" }).waitFor();
    await ana.locator("#typing", { hasText: /^$/ }).waitFor();

    const polled = await api(harness.worker, `/api/bot/pending?room=${room}&botId=page-bot`, {
      token: harness.worker.botToken,
    });
    expect(polled.status).toBe(200);
    await ana.locator("#no-bot").waitFor({ state: "hidden" });
    await presence(ana).filter({ hasText: "page-bot waiting for questions" }).waitFor();

    await ben.close();
    await presence(ana).filter({ hasText: "1 here: ana" }).waitFor();
  });

  it(
    "drops a page whose browser was killed, within the ping timeout",
    async () => {
      const room = "presence-killed";
      await putFlags(harness.worker, { defaultMode: "do", doPercent: 0, rooms: {} });
      await postMessage(harness.worker, room, "the room exists");
      const ben = await personIn(room, "ben");
      // Its own browser process, so it can die like a crashed laptop: SIGKILL, no close frame sent.
      const doomed = await chromium.launchServer({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
      try {
        const browser = await chromium.connect(doomed.wsEndpoint());
        const ana = await (await browser.newContext()).newPage();
        await ana.addInitScript(() => localStorage.setItem("displayName", "ana"));
        await ana.goto(`${harness.worker.url}/r/${room}`);
        await presence(ben).filter({ hasText: "2 here" }).filter({ hasText: "ana" }).waitFor();

        const pid = doomed.process().pid!;
        process.kill(-pid, "SIGKILL"); // the whole process group: browser, renderers, network service
        await presence(ben)
          .filter({ hasText: "1 here: ben" })
          .waitFor({ timeout: SOCKET_SILENT_MS + 10_000 });
        expect(await presence(ben).textContent()).not.toContain("ana");
      } finally {
        await doomed.kill();
      }
    },
    SOCKET_SILENT_MS + 60_000,
  );
});
