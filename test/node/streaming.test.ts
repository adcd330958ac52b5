// Streaming replies end to end: real `wrangler dev`, real Chromium pages, the bot (in this
// process or its own) and the Ollama-protocol stub writing tokens and holding mid-reply.
import { afterEach, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { startBot, type BotHandle } from "../../bot";
import { useBrowserHarness } from "./support/browser-harness";
import { listRoom, putFlags, sendFromPage } from "./support/browser";
import { LogCapture, repliesByHuman, tempStateFile, waitFor } from "./support/bot-harness";
import { killBotProcess, spawnBotProcess, type BotProcess } from "./support/bot-process";
import { startOllamaStub, type OllamaStub, type OllamaStubOptions } from "./support/ollama-stub";
import { ChatClient } from "../../bench/lib/api";
import { PAGE_CADENCE, Tab } from "../../bench/lib/tab";

const harness = useBrowserHarness({ vars: { CACHE_MODE: "do", CLAIM_LEASE_MS: "3000" } });
const REPLY = "one two three four five six seven eight";
const bots: BotHandle[] = [];
const processes: BotProcess[] = [];
const stubs: OllamaStub[] = [];
const gates: (() => void)[] = [];

afterEach(async () => {
  for (const open of gates.splice(0)) open();
  await Promise.all(bots.splice(0).map((b) => b.stop()));
  await Promise.all(processes.splice(0).map((p) => killBotProcess(p)));
  await Promise.all(stubs.splice(0).map((s) => s.stop()));
});

/** A stub writing REPLY a token every 20 ms; with `holdAt`, it stops before that token until `release()`. */
async function stub(
  holdAt?: number,
  options: OllamaStubOptions = {},
): Promise<{ ollama: OllamaStub; release: () => void }> {
  const ollama = await startOllamaStub({ reply: () => REPLY, tokenDelayMs: 20, ...options });
  stubs.push(ollama);
  let release = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  gates.push(release);
  if (holdAt !== undefined) ollama.beforeToken = async (index) => (index === holdAt ? gate : undefined);
  return { ollama, release };
}

async function bot(ollama: OllamaStub, room: string, botId: string, logs = new LogCapture()): Promise<LogCapture> {
  const w = harness.worker;
  bots.push(
    await startBot({
      apiUrl: w.url,
      token: w.botToken,
      pollMs: 100,
      stateFile: tempStateFile(),
      log: logs.log,
      ollamaHost: ollama.url,
      rooms: [room],
      botId,
    }),
  );
  return logs;
}

async function openRoom(room: string): Promise<Page> {
  const { page, seen } = await harness.newPage();
  await page.goto(`${harness.worker.url}/r/${room}`);
  await page.locator("#delivery", { hasText: "live" }).waitFor();
  pages.push({ page, seen });
  return page;
}
const pages: { page: Page; seen: { errors: string[] } }[] = [];
afterEach(() => {
  const errors = pages.splice(0).flatMap((p) => p.seen.errors);
  expect(errors).toEqual([]);
});

const streaming = (page: Page) => page.locator("#messages li.msg--streaming");
const aiRows = (page: Page) => page.locator("#messages li.msg--ai");

/** The AI replies the room's list holds for its only human message. */
async function replies(room: string) {
  const { comments } = await listRoom(harness.worker, room);
  const human = comments.find((m) => m.kind === "human")!;
  return repliesByHuman(comments).get(human.id) ?? [];
}

describe("streaming replies in the page", () => {
  it("another page sees the text grow before the model finishes, a reload shows it so far, then the reply once", async () => {
    const room = "stream-live";
    const { ollama, release } = await stub(4);
    await bot(ollama, room, "streamer");
    const a = await openRoom(room);
    const b = await openRoom(room);
    await sendFromPage(a, "tell me the numbers");

    const partial = streaming(b).filter({ hasText: "one two three four" });
    await partial.waitFor();
    await partial.locator(".msg__cursor").waitFor();
    // Cleaned like the reply it becomes (text hygiene trims it).
    expect(await partial.locator(".msg__text").innerText()).toBe("one two three four");
    const id = await partial.getAttribute("data-id");
    // The model has not finished (held before its fifth token): nothing is in the room's list yet.
    expect(await replies(room)).toEqual([]);
    expect(ollama.firstTokenAt).toHaveLength(1);

    await b.reload();
    await streaming(b).filter({ hasText: "one two three four" }).waitFor();
    // From here on, the most AI rows page B ever shows at once: the stream and its reply never both.
    await b.evaluate(() => {
      const w = window as unknown as { mostAiRows: number };
      const list = document.getElementById("messages")!;
      w.mostAiRows = list.querySelectorAll("li.msg--ai").length;
      new MutationObserver(
        () => (w.mostAiRows = Math.max(w.mostAiRows, list.querySelectorAll("li.msg--ai").length)),
      ).observe(list, { childList: true, subtree: true });
    });
    release();

    for (const page of [a, b]) {
      const final = aiRows(page).filter({ hasText: REPLY });
      await final.and(page.locator(":not(.msg--streaming)")).waitFor();
      expect(await final.getAttribute("data-id")).toBe(id);
      expect(await aiRows(page).count()).toBe(1);
      expect(await streaming(page).count()).toBe(0);
    }
    expect(await b.evaluate(() => (window as unknown as { mostAiRows: number }).mostAiRows)).toBe(1);
    expect((await replies(room)).map((m) => [m.id, m.text])).toEqual([[id, REPLY]]);
  });

  it("a thinking model's reasoning never reaches viewers: every text the growing reply shows is a prefix of the answer", async () => {
    const room = "stream-think";
    // Tokens: "<think>\n", "private ", "monologue\n", "</think>\n\n", then REPLY's; held before "four".
    const { ollama, release } = await stub(7, { inlineThinking: "private monologue" });
    await bot(ollama, room, "thinker");
    const page = await openRoom(room);
    await page.evaluate(() => {
      const w = window as unknown as { shown: string[] };
      w.shown = [];
      new MutationObserver(() => {
        document
          .querySelectorAll("#messages li.msg--streaming .msg__text")
          .forEach((text) => w.shown.push(text.textContent ?? ""));
      }).observe(document.getElementById("messages")!, { childList: true, subtree: true, characterData: true });
    });
    await sendFromPage(page, "think quietly");
    await streaming(page).filter({ hasText: "one two three" }).waitFor();
    release();
    await aiRows(page).filter({ hasText: REPLY }).and(page.locator(":not(.msg--streaming)")).waitFor();
    const shown = await page.evaluate(() => (window as unknown as { shown: string[] }).shown);
    expect(shown).toContain("one two three");
    expect(shown.filter((text) => !REPLY.startsWith(text))).toEqual([]);
    expect((await replies(room)).map((m) => m.text)).toEqual([REPLY]);
  });

  it("a lab tab (built from the page's parts) holds the reply being written like the page, and drops it when the reply lands", async () => {
    const room = "stream-lab";
    const { ollama, release } = await stub(4);
    await bot(ollama, room, "lab-streamer");
    const frames: string[] = [];
    const tab = new Tab({
      client: new ChatClient(harness.worker.url),
      room,
      author: "lab",
      cadence: PAGE_CADENCE,
      push: true,
      events: { onStream: (frame) => frames.push(frame.state) },
    });
    try {
      await tab.open();
      expect(tab.socketOpen).toBe(true);
      const page = await openRoom(room);
      await sendFromPage(page, "count for the lab");
      const held = await waitFor("the tab to hold the text so far", () =>
        tab.streams.list().find((s) => s.text === "one two three four"),
      );
      expect(held.state).toBe("streaming");
      release();
      await aiRows(page).filter({ hasText: REPLY }).and(page.locator(":not(.msg--streaming)")).waitFor();
      await waitFor("the tab to drop the stream once the reply is pushed", () => tab.streams.list().length === 0);
      expect(frames.length).toBeGreaterThan(0);
      expect(tab.streams.gaps).toBe(0);
    } finally {
      tab.stop();
    }
  });

  it("Stop ends the generation: the reply keeps the text so far, marked stopped", async () => {
    const room = "stream-stop";
    const { ollama } = await stub(3);
    const logs = await bot(ollama, room, "stoppable");
    const page = await openRoom(room);
    await sendFromPage(page, "count forever");
    await streaming(page).filter({ hasText: "one two three" }).waitFor();

    await page.getByRole("button", { name: "Stop this reply" }).click();
    const stopped = aiRows(page).filter({ has: page.locator(".tag--stopped") });
    await stopped.waitFor();
    expect(await stopped.locator(".msg__text").innerText()).toBe("one two three");
    expect(await streaming(page).count()).toBe(0);
    expect((await replies(room)).map((m) => [m.text, m.stopped])).toEqual([["one two three", true]]);
    expect(logs.has("(stopped by a viewer)")).toBe(true);
  });

  it("a bot killed mid-stream: viewers see 'reply interrupted', then exactly one reply from another bot", async () => {
    const room = "stream-crash";
    const held = await stub(3);
    const victim = spawnBotProcess(harness.worker, { BOT_ID: "victim", OLLAMA_HOST: held.ollama.url, BOT_ROOMS: room });
    processes.push(victim);
    const page = await openRoom(room);
    await sendFromPage(page, "will you finish?");
    await streaming(page).filter({ hasText: "one two three" }).waitFor();

    await killBotProcess(victim);
    // The lease (3 s) runs out; the room's alarm marks the stream interrupted.
    await page.locator(".msg__status--interrupted", { hasText: "reply interrupted" }).waitFor({ timeout: 15_000 });

    const { ollama } = await stub();
    await bot(ollama, room, "rescuer");
    await aiRows(page).filter({ hasText: REPLY }).and(page.locator(":not(.msg--streaming)")).waitFor();
    expect(await aiRows(page).count()).toBe(1);
    expect(await page.locator(".msg__status--interrupted").count()).toBe(0);
    const [only, ...extra] = await replies(room);
    expect(extra).toEqual([]);
    expect(only?.text).toBe(REPLY);
  });

  it("kv rooms do not stream: 'AI is thinking…' until the reply appears", async () => {
    const room = "stream-kv";
    await putFlags(harness.worker, { defaultMode: "do", doPercent: 0, rooms: { [room]: "kv" } });
    const { ollama, release } = await stub(3);
    const logs = await bot(ollama, room, "kv-bot");
    const { page, seen } = await harness.newPage();
    pages.push({ page, seen });
    await page.goto(`${harness.worker.url}/r/${room}?poll=300`);
    await page.locator("#mode", { hasText: "kv" }).waitFor();
    await sendFromPage(page, "slow answer please");

    await logs.waitFor(`#${room} is a kv room: no streaming`);
    await page.locator(".msg__status--thinking", { hasText: "AI is thinking…" }).waitFor();
    expect(await streaming(page).count()).toBe(0);
    release();
    await aiRows(page).filter({ hasText: REPLY }).waitFor();
    await waitFor(
      "the human message to show no status line",
      async () => (await page.locator(".msg__status--thinking").count()) === 0,
    );
  });
});
