// Bots on the pages, in real Chromium against a real `wrangler dev`: the composer offers the
// room's bots after `@` (keyboard and presence), and the operator page lists bots with buttons
// that rotate and revoke their tokens.
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import type { BotTokenResponse } from "../../src/shared/bots";
import { api, postMessage, putFlags } from "./support/browser";
import { useBrowserHarness } from "./support/browser-harness";

const harness = useBrowserHarness();
const ROOM = "bots-page";

async function createBot(name: string): Promise<string> {
  const { status, body } = await api<BotTokenResponse>(harness.worker, "/api/admin/bots", {
    method: "POST",
    body: { name, model: `${name}-model`, rooms: [ROOM] },
    token: harness.worker.adminToken,
  });
  expect(status).toBe(201);
  return body.token;
}

const me = async (token: string) => (await api(harness.worker, "/api/bot/me", { token })).status;

describe("bots on the pages", () => {
  it("the composer offers the room's bots after @, from the keyboard", async () => {
    await putFlags(harness.worker, { defaultMode: "do", doPercent: 0, rooms: {} });
    await postMessage(harness.worker, ROOM, "the room exists");
    await createBot("ann");
    await createBot("bob");
    const set = await api(harness.worker, `/api/admin/rooms/${ROOM}/bots`, {
      method: "PUT",
      body: { defaultBot: "ann" },
      token: harness.worker.adminToken,
    });
    expect(set.status).toBe(200);

    const { page } = await harness.newPage();
    await page.goto(`${harness.worker.url}/r/${ROOM}`);
    await page.locator("#presence", { hasText: "ask @ann (default), @bob" }).waitFor();
    const box = page.getByRole("textbox", { name: "Message" });
    const options = page.getByRole("listbox", { name: "Bots of this room" }).getByRole("option");

    await box.pressSequentially("hi @");
    expect(await options.allTextContents()).toEqual(["@annann-model · default", "@bobbob-model"]);
    await box.press("ArrowDown");
    expect(await box.getAttribute("aria-activedescendant")).toBe("mention-bob");
    await box.press("Enter");
    // Enter inserted the name; nothing was sent.
    expect(await box.inputValue()).toBe("hi @bob ");
    await expect.poll(() => options.count()).toBe(0);
    expect(await page.locator("#messages li.msg", { hasText: "hi @bob" }).count()).toBe(0);

    await box.pressSequentially("and @a");
    expect(await options.allTextContents()).toEqual(["@annann-model · default"]);
    await box.press("Escape");
    await expect.poll(() => options.count()).toBe(0);
    expect(await box.inputValue()).toBe("hi @bob and @a");
  });

  it("the operator page lists bots; Rotate shows a new token once, Revoke ends the old one", async () => {
    const token = await createBot("cy");
    const { page } = await harness.newPage();
    await signIn(page);
    const row = page.locator('#bots tr[data-bot="cy"]');
    await row.waitFor();
    expect(await row.locator("td").allTextContents()).toEqual([
      "cy-model",
      `#${ROOM}`,
      "never",
      "0",
      "0",
      "0",
      "0",
      "RotateRevoke",
    ]);

    // Each acts on a second press only: the first asks "Sure?".
    await page.getByRole("button", { name: "Rotate the token of cy" }).click();
    await page.getByRole("button", { name: "Confirm: rotate the token of cy" }).click();
    const shown = page.getByRole("textbox", { name: "Token of cy" });
    await shown.waitFor();
    const rotated = await shown.inputValue();
    expect(rotated).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect([await me(token), await me(rotated)]).toEqual([401, 200]);

    await page.getByRole("button", { name: "Revoke cy" }).click();
    expect(await me(rotated)).toBe(200);
    await page.getByRole("button", { name: "Confirm: revoke cy" }).click();
    await row.waitFor({ state: "detached" });
    expect(await me(rotated)).toBe(401);
  });
});

async function signIn(page: Page): Promise<void> {
  await page.goto(`${harness.worker.url}/admin`);
  await page.getByLabel("Admin token").fill(harness.worker.adminToken);
  await page.getByRole("button", { name: "Sign in" }).click();
}
