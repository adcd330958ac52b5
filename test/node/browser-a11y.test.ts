// Both pages through axe-core in real Chromium, in the light and the dark theme: no serious or
// critical violation, with messages of every kind on screen (people's, a bot's reply to our
// question with its Regenerate button, a failed one, one of ours still pending) and the operator page signed in with its figures.
import AxeBuilder from "@axe-core/playwright";
import type { Page } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import type { Message } from "../../src/shared/message";
import { api, messageRow, postMessage, putFlags, sendFromPage } from "./support/browser";
import { useBrowserHarness } from "./support/browser-harness";

const harness = useBrowserHarness();
const ROOM = "a11y";
/** The page holds this question's edit key, as if it had asked it: its answer shows Regenerate. */
const ASKER_KEY = "a11y-askers-edit-key-012345";
let question: Message;

async function violations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).analyze();
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

const background = (page: Page) => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
/** Perceived lightness 0..255 of an `rgb(…)` colour. */
const lightness = (rgb: string) => {
  const [r, g, b] = (rgb.match(/\d+/g) ?? []).map(Number);
  return 0.299 * r! + 0.587 * g! + 0.114 * b!;
};

beforeAll(async () => {
  const { worker } = harness;
  await putFlags(worker, { defaultMode: "do", doPercent: 0, rooms: {} });
  const asked = await api<Message>(worker, "/api/comments", {
    method: "POST",
    body: { room: ROOM, text: "What is a Durable Object?", author: "ana", editKey: ASKER_KEY },
  });
  question = asked.body;
  const auth = { token: worker.botToken };
  await api(worker, "/api/bot/claim", {
    method: "POST",
    body: { messageId: question.id, room: ROOM, botId: "a11y-bot" },
    ...auth,
  });
  const reply = {
    kind: "ai",
    room: ROOM,
    replyTo: question.id,
    text: "One object per room.",
    author: "bot",
    botId: "a11y-bot",
  };
  await api<Message>(worker, "/api/comments", { method: "POST", body: reply, ...auth });
  // A registered bot, so the operator page's bots list has a row with its buttons.
  await api(worker, "/api/admin/bots", {
    method: "POST",
    body: { name: "a11y", model: "llama3.2:1b", rooms: [ROOM] },
    token: worker.adminToken,
  });
  const failed = await postMessage(worker, ROOM, "A question nobody answers", "ben");
  await api(worker, "/api/bot/claim", {
    method: "POST",
    body: { messageId: failed.id, room: ROOM, botId: "a11y-bot" },
    ...auth,
  });
  await api(worker, "/api/bot/fail", {
    method: "POST",
    body: { messageId: failed.id, room: ROOM, botId: "a11y-bot", reason: "model down" },
    ...auth,
  });
});

describe.each(["light", "dark"] as const)("in the %s theme", (colorScheme) => {
  it("the chat page has no serious or critical axe-core violation", async () => {
    const { page, seen } = await harness.newPage({ colorScheme });
    await page.addInitScript(
      ([id, key]) => localStorage.setItem("editKeys", JSON.stringify([[id, key]])),
      [question.id, ASKER_KEY],
    );
    await page.goto(`${harness.worker.url}/r/${ROOM}`);
    await messageRow(page, "One object per room.")
      .getByRole("button", { name: "Regenerate: ask the bot for another answer" })
      .waitFor();
    await sendFromPage(page, `my own message, ${colorScheme}`);
    await messageRow(page, `my own message, ${colorScheme}`).waitFor();
    expect(await violations(page)).toEqual([]);
    const light = lightness(await background(page));
    expect(colorScheme === "dark" ? light < 80 : light > 200).toBe(true);
    expect(seen.errors).toEqual([]);
  });

  it("the operator page, signed in, has no serious or critical axe-core violation", async () => {
    const { page, seen } = await harness.newPage({ colorScheme });
    await page.goto(`${harness.worker.url}/admin`);
    expect(await violations(page)).toEqual([]);
    await page.getByLabel("Admin token").fill(harness.worker.adminToken);
    await page.getByLabel(/Your name/).fill("a11y-operator");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#rooms li").first().waitFor();
    await page.locator("#bots tr[data-bot]").first().waitFor();
    expect(await violations(page)).toEqual([]);
    const light = lightness(await background(page));
    expect(colorScheme === "dark" ? light < 80 : light > 200).toBe(true);
    expect(seen.errors).toEqual([]);
  });
});
