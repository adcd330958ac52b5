// Edits and reactions on the chat page, in real Chromium: the author edits (the other page shows
// "edited" and the history), reactions count across pages, and all of it works from the keyboard
// alone — posting, editing (Escape cancels), reacting, stopping a reply being written and asking again.
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { newMessageId, type Message } from "../../src/shared/message";
import { api, messageRow, postMessage, putFlags } from "./support/browser";
import { useBrowserHarness } from "./support/browser-harness";

const harness = useBrowserHarness();

async function openRoom(room: string): Promise<Page> {
  const { page } = await harness.newPage();
  await page.goto(`${harness.worker.url}/r/${room}`);
  await page.locator("#delivery", { hasText: "live" }).waitFor();
  return page;
}

/** Presses Tab until the focused element matches `name` (bounded): the keyboard-only path to it. */
async function tabTo(page: Page, name: RegExp): Promise<void> {
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      return el?.getAttribute("aria-label") ?? el?.textContent ?? "";
    });
    if (name.test(focused)) return;
  }
  throw new Error(`no focusable element named ${name} within 60 tabs`);
}

describe("edits and reactions on the page", () => {
  it("shows an edit on the other page with its history, and counts reactions across pages", async () => {
    const room = "edits-page";
    await putFlags(harness.worker, { defaultMode: "do", doPercent: 0, rooms: {} });
    await postMessage(harness.worker, room, "the room exists");
    const [ana, ben] = [await openRoom(room), await openRoom(room)];

    await ana.getByRole("textbox", { name: "Message" }).fill("helo wrld");
    await ana.keyboard.press("Enter");
    await messageRow(ana, "helo wrld").getByRole("button", { name: "Edit your message" }).click();
    await ana.getByRole("textbox", { name: "Edit your message" }).fill("hello world");
    await ana.getByRole("button", { name: "Save" }).click();
    await messageRow(ana, "hello world").getByRole("button", { name: "edited" }).waitFor();

    const edited = messageRow(ben, "hello world");
    await edited.getByRole("button", { name: "edited" }).click();
    await edited.getByRole("list", { name: "Earlier versions" }).filter({ hasText: "helo wrld" }).waitFor();
    // Only the author holds the key: the other page offers no Edit.
    expect(await edited.getByRole("button", { name: "Edit your message" }).count()).toBe(0);

    await edited.getByRole("button", { name: "👍 0" }).click();
    await messageRow(ana, "hello world").getByRole("button", { name: "👍 1" }).waitFor();
    expect(await edited.getByRole("button", { name: "👍 1" }).getAttribute("aria-pressed")).toBe("true");
    await edited.getByRole("button", { name: "👍 1" }).click();
    await messageRow(ana, "hello world").getByRole("button", { name: "👍 0" }).waitFor();
  });

  it("works from the keyboard alone: post, edit (Escape cancels), react, stop a reply, ask again", async () => {
    const room = "edits-keyboard";
    await putFlags(harness.worker, { defaultMode: "do", doPercent: 0, rooms: {} });
    await postMessage(harness.worker, room, "the room exists");
    const page = await openRoom(room);

    // The composer has the focus on load: type and Enter.
    await page.keyboard.type("typed with keys");
    await page.keyboard.press("Enter");
    await messageRow(page, "typed with keys").waitFor();

    await tabTo(page, /^Edit your message$/);
    await page.keyboard.press("Enter");
    await page.keyboard.type(" and changed");
    await page.keyboard.press("Escape");
    await page.getByRole("textbox", { name: "Edit your message" }).waitFor({ state: "detached" });
    expect(await messageRow(page, "typed with keys").locator(".msg__text").textContent()).toBe("typed with keys");

    await tabTo(page, /^Edit your message$/);
    await page.keyboard.press("Enter");
    await page.keyboard.type(", then saved");
    await page.keyboard.press("Enter");
    await messageRow(page, "typed with keys, then saved").getByRole("button", { name: "edited" }).waitFor();

    await tabTo(page, /^🎉 0$/);
    await page.keyboard.press("Space");
    await page.getByRole("button", { name: "🎉 1" }).waitFor();

    // A reply being written to this page's question: Stop is reachable by keyboard too.
    const listed = (await api<{ comments: Message[] }>(harness.worker, `/api/comments?room=${room}`)).body.comments;
    const question = listed.find((m) => m.text === "typed with keys, then saved")!;
    const bot = { token: harness.worker.botToken };
    expect(
      (
        await api(harness.worker, "/api/bot/claim", {
          method: "POST",
          body: { messageId: question.id, room, botId: "kb-bot" },
          ...bot,
        })
      ).status,
    ).toBe(200);
    const reply = {
      room,
      id: newMessageId(),
      replyTo: question.id,
      botId: "kb-bot",
      author: "bot",
      offset: 0,
      delta: "Thinking it through",
    };
    expect((await api(harness.worker, "/api/bot/stream", { method: "POST", body: reply, ...bot })).status).toBe(200);
    await page.getByRole("button", { name: "Stop this reply" }).waitFor();
    await tabTo(page, /^Stop this reply$/);
    await page.keyboard.press("Enter");
    const stopped = await api<{ stop: boolean }>(harness.worker, "/api/bot/stream", {
      method: "POST",
      body: { ...reply, offset: reply.delta.length, delta: "" },
      ...bot,
    });
    expect(stopped.body.stop).toBe(true);
    const landed = { room, kind: "ai", id: reply.id, replyTo: question.id, botId: "kb-bot", text: reply.delta };
    const posted = await api(harness.worker, "/api/comments", {
      method: "POST",
      body: { ...landed, stopped: true },
      ...bot,
    });
    expect(posted.status).toBe(201);

    // The stopped answer: its asker asks again from the keyboard, and the question is pending again.
    await tabTo(page, /^Regenerate: ask the bot for another answer$/);
    await page.keyboard.press("Enter");
    await page
      .getByRole("button", { name: "Regenerate: ask the bot for another answer" })
      .waitFor({ state: "detached" });
    const asked = (await api<Message>(harness.worker, `/api/comments/${question.id}?room=${room}`)).body;
    expect(asked.status).toBe("pending");
    const messages = (await api<{ comments: Message[] }>(harness.worker, `/api/comments?room=${room}`)).body.comments;
    expect(messages.find((m) => m.text === "typed with keys, then saved")?.reactions).toEqual({ "🎉": 1 });
  });
});
