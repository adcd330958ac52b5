// Screenshots of the chat page and the operator page, desktop and phone width, for
// docs/pages.md: docs/chat-desktop.png, docs/chat-phone.png, docs/admin-desktop.png,
// docs/admin-phone.png, scroll-back at the start of a long room (docs/chat-scroll-back.png),
// and people in a room (presence, typing, an edit with its history, reactions, a formatted
// answer): docs/chat-people.png, and the same in the dark theme at phone width, docs/chat-dark-phone.png.
// Starts its own wrangler dev, seeds a conversation (with a bot reply, a reply being written
// and a failed one), a long room, and a real kv race for the heal chart.
// Two registered bots answering in one room, with the composer offering them after @, and the
// operator's bots list: docs/chat-bots.png, docs/admin-bots.png.
// `npm run screenshots -- scroll-back` takes only the named ones (chat, admin, scroll-back, people, bots).
import { join } from "node:path";
import type { Browser, BrowserContextOptions } from "playwright-core";
import { newMessageId, type Message } from "../src/shared/message";
import { PROJECT_ROOT, startLocalWorker, type LocalWorker } from "./local-worker";
import { api, launchChromium, listRoom, messageRow, postMessage, putFlags } from "../test/node/support/browser";

const DOCS = join(PROJECT_ROOT, "docs");
const DESKTOP: BrowserContextOptions = { viewport: { width: 1280, height: 820 } };
const PHONE: BrowserContextOptions = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
};

async function bot(worker: LocalWorker, path: string, body: unknown): Promise<void> {
  const { status, body: answer } = await api(worker, path, { method: "POST", body, token: worker.botToken });
  if (status >= 300) throw new Error(`${path} answered ${status}: ${JSON.stringify(answer)}`);
}

async function seedConversation(worker: LocalWorker, room: string): Promise<void> {
  const ask = await postMessage(worker, room, "Has anyone tried the lobby since it moved to do mode?", "Ada");
  await bot(worker, "/api/bot/claim", { messageId: ask.id, botId: "bot-1" });
  await bot(worker, "/api/comments", {
    kind: "ai",
    replyTo: ask.id,
    botId: "bot-1",
    author: "llama-bot",
    text: "Yes! Every message in this room now goes through its Durable Object, so writes are serialized and none can be lost.\nThe page still verifies each one, just in case.",
  });
  await postMessage(worker, room, "Zero heals on the operator page since the flip, nice work", "Grace");
  const how = await postMessage(worker, room, "@bot how do I count messages per room in SQL?", "Linus");
  await bot(worker, "/api/bot/claim", { messageId: how.id, botId: "bot-1" });
  await bot(worker, "/api/comments", {
    kind: "ai",
    replyTo: how.id,
    botId: "bot-1",
    author: "llama-bot",
    text:
      "Group by the room:\n\n```sql\nSELECT room, COUNT(*) AS messages\nFROM messages\nGROUP BY room;\n```\n\n" +
      "| room | messages |\n|---|---:|\n| lobby | 1,204 |\n| history | 120 |",
  });
  const failed = await postMessage(worker, room, "@bot summarize the last 10,000 messages please", "Linus");
  await bot(worker, "/api/bot/claim", { messageId: failed.id, botId: "bot-1" });
  await bot(worker, "/api/bot/fail", { messageId: failed.id, botId: "bot-1", reason: "model timed out after 120 s" });
  const thinking = await postMessage(worker, room, "@bot what does the verification layer do?", "Ada");
  await bot(worker, "/api/bot/claim", { messageId: thinking.id, botId: "bot-1" });
  // A reply mid-stream: the bot has written this much so far (its lease keeps it "streaming").
  await bot(worker, "/api/bot/stream", {
    room,
    id: newMessageId(),
    replyTo: thinking.id,
    botId: "bot-1",
    author: "llama-bot",
    offset: 0,
    delta:
      "It keeps the id of every message you send until it sees that message in the room's list. If one is missing, the page asks the server to",
  });
}

/** A real legacy-path race: concurrent posts to one kv room lose some; heal the lost ones like a client would. */
async function seedKvRace(worker: LocalWorker, room: string): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const posted: Message[] = await Promise.all(
      Array.from({ length: 12 }, (_, i) => postMessage(worker, room, `race ${round}-${i}`, "lab")),
    );
    const seen = new Set((await listRoom(worker, room)).comments.map((m) => m.id));
    for (const message of posted) {
      if (!seen.has(message.id))
        await api(worker, "/api/admin/add-to-cache", { method: "POST", body: { messageId: message.id } });
    }
  }
}

async function shootChat(
  browser: Browser,
  worker: LocalWorker,
  options: BrowserContextOptions,
  file: string,
): Promise<void> {
  const context = await browser.newContext(options);
  await context.addInitScript(() => localStorage.setItem("displayName", "Margaret"));
  const page = await context.newPage();
  await page.goto(`${worker.url}/r/lobby`);
  await page.locator("#delivery", { hasText: "live" }).waitFor();
  const text = `Shipping it — thanks all! (${file.includes("phone") ? "from my phone" : "from my desk"})`;
  await page.getByRole("textbox", { name: "Message" }).fill(text);
  await page.keyboard.press("Enter");
  await messageRow(page, text).locator(".state--verified").waitFor();
  await page.locator("li.msg--streaming").waitFor();
  // The streaming reply's cursor blinks: stopped (shown) for the picture.
  await page.screenshot({ path: join(DOCS, file), animations: "disabled" });
  await context.close();
}

/** A long do room scrolled back to its first message: pages loaded above, "Start of #room". */
async function shootScrollBack(browser: Browser, worker: LocalWorker, room: string, file: string): Promise<void> {
  const context = await browser.newContext(DESKTOP);
  const page = await context.newPage();
  await page.goto(`${worker.url}/r/${room}`);
  await page.locator("#delivery", { hasText: "live" }).waitFor();
  const marker = page.locator("#history");
  while ((await marker.textContent()) !== `Start of #${room}`) {
    const shown = await page.locator("#messages > li.msg").count();
    await page.evaluate(() => (document.getElementById("scroller")!.scrollTop = 0));
    await page.waitForFunction(
      ([count, start]) =>
        document.querySelectorAll("#messages > li.msg").length > count ||
        document.getElementById("history")!.textContent === start,
      [shown, `Start of #${room}`] as const,
    );
  }
  await page.evaluate(() => (document.getElementById("scroller")!.scrollTop = 0));
  await page.screenshot({ path: join(DOCS, file) });
  await context.close();
}

async function seedLongRoom(worker: LocalWorker, room: string, count: number): Promise<void> {
  const people = ["Ada", "Grace", "Linus", "Margaret"];
  await postMessage(worker, room, "Welcome to #history — the first message of this room.", "Ada");
  for (let i = 1; i < count; i++)
    await postMessage(worker, room, `Message ${i} of the long thread`, people[i % people.length]);
}

async function shootAdmin(
  browser: Browser,
  worker: LocalWorker,
  options: BrowserContextOptions,
  file: string,
): Promise<void> {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  await page.goto(`${worker.url}/admin`);
  await page.getByLabel("Admin token").fill(worker.adminToken);
  await page.getByLabel(/Your name/).fill("ops-alice");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#stats tbody tr").first().waitFor();
  await page.locator("#audit li").first().waitFor();
  await page.screenshot({ path: join(DOCS, file), fullPage: true });
  await context.close();
}

/** Two people in the lobby: one edits a message and opens its history, the other reacts and types. */
async function shootPeople(
  browser: Browser,
  worker: LocalWorker,
  options: BrowserContextOptions,
  file: string,
): Promise<void> {
  const person = async (name: string) => {
    const context = await browser.newContext(options);
    await context.addInitScript((n) => localStorage.setItem("displayName", n), name);
    const page = await context.newPage();
    await page.goto(`${worker.url}/r/lobby`);
    await page.locator("#delivery", { hasText: "live" }).waitFor();
    return { context, page };
  };
  const margaret = await person("Margaret");
  const grace = await person("Grace");
  const typo = `Releasing 2.0 tonihgt (${file})`;
  await margaret.page.getByRole("textbox", { name: "Message" }).fill(typo);
  await margaret.page.keyboard.press("Enter");
  const fixed = `Releasing 2.0 tonight (${file})`;
  await messageRow(margaret.page, typo).getByRole("button", { name: "Edit your message" }).click();
  await margaret.page.getByRole("textbox", { name: "Edit your message" }).fill(fixed);
  await margaret.page.keyboard.press("Enter");
  const row = messageRow(margaret.page, fixed);
  await row.getByRole("button", { name: "edited" }).click();
  await row.getByRole("list", { name: "Earlier versions" }).waitFor();
  for (const emoji of ["🎉", "👍"])
    await messageRow(grace.page, fixed)
      .getByRole("button", { name: `${emoji} 0` })
      .click();
  await row.getByRole("button", { name: "🎉 1" }).waitFor();
  // The bot asks the room for work, so presence shows it.
  await api(worker, "/api/bot/pending?room=lobby&botId=llama-bot", { token: worker.botToken });
  await margaret.page.locator("#presence", { hasText: "llama-bot" }).waitFor();
  await grace.page.getByRole("textbox", { name: "Message" }).pressSequentially("Changelog is rea");
  await margaret.page.locator("#typing", { hasText: "Grace is typing…" }).waitFor();
  await margaret.page.screenshot({ path: join(DOCS, file), animations: "disabled" });
  await margaret.context.close();
  await grace.context.close();
}

/** A registered bot answers `text` with its own token: claim, then the reply with the tokens it cost. */
async function answerAs(worker: LocalWorker, token: string, human: Message, text: string, usage: number[]) {
  const call = async (path: string, body: unknown) => {
    const { status, body: answer } = await api(worker, path, { method: "POST", body, token });
    if (status >= 300) throw new Error(`${path} answered ${status}: ${JSON.stringify(answer)}`);
  };
  await call("/api/bot/claim", { messageId: human.id, room: human.room });
  const [promptTokens, replyTokens] = usage;
  await call("/api/comments", {
    kind: "ai",
    room: human.room,
    replyTo: human.id,
    text,
    usage: { promptTokens, replyTokens },
  });
}

/** Two bots in one room: each answers its mention (the default takes the unmentioned), then the pages. */
async function shootBots(browser: Browser, worker: LocalWorker, room: string): Promise<void> {
  const create = async (name: string, model: string) => {
    const { body } = await api<{ token: string }>(worker, "/api/admin/bots", {
      method: "POST",
      body: { name, model, rooms: [room] },
      token: worker.adminToken,
    });
    return body.token;
  };
  const llama = await create("llama", "llama3.2:1b");
  const qwen = await create("qwen", "qwen3:4b");
  await api(worker, `/api/admin/rooms/${room}/bots`, {
    method: "PUT",
    body: { defaultBot: "llama" },
    token: worker.adminToken,
  });
  const q1 = await postMessage(worker, room, "@qwen what is a Durable Object, in one line?", "Ada");
  await answerAs(worker, qwen, q1, "A single-threaded object with its own storage, addressed by name.", [412, 17]);
  const q2 = await postMessage(worker, room, "And who answers when I mention nobody?", "Grace");
  await answerAs(worker, llama, q2, "I do: the operator made me this room's default bot.", [388, 14]);

  const context = await browser.newContext(DESKTOP);
  await context.addInitScript(() => localStorage.setItem("displayName", "Margaret"));
  const page = await context.newPage();
  await page.goto(`${worker.url}/r/${room}`);
  await page.locator("#presence", { hasText: "ask @llama (default), @qwen" }).waitFor();
  await page.getByRole("textbox", { name: "Message" }).pressSequentially("@");
  await page.getByRole("option").nth(1).waitFor();
  await page.screenshot({ path: join(DOCS, "chat-bots.png"), animations: "disabled" });
  await context.close();

  const admin = await browser.newContext(DESKTOP);
  const adminPage = await admin.newPage();
  await adminPage.goto(`${worker.url}/admin`);
  await adminPage.getByLabel("Admin token").fill(worker.adminToken);
  await adminPage.getByRole("button", { name: "Sign in" }).click();
  // The counts reach the stats store in batches: the page refreshes until they show.
  await adminPage.locator('#bots tr[data-bot="qwen"] td', { hasText: "412" }).waitFor({ timeout: 30_000 });
  await adminPage.locator(".card--bots").screenshot({ path: join(DOCS, "admin-bots.png") });
  await admin.close();
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const want = (name: string) => only.length === 0 || only.includes(name);
  const worker = await startLocalWorker();
  let browser: Browser | undefined;
  try {
    await putFlags(worker, {
      defaultMode: "kv",
      doPercent: 0,
      rooms: { "lobby": "do", "history": "do", "ask-bots": "do" },
    });
    await seedConversation(worker, "lobby");
    if (want("scroll-back")) await seedLongRoom(worker, "history", 120);
    await seedKvRace(worker, "race-lab");
    await putFlags(worker, {
      defaultMode: "kv",
      doPercent: 25,
      rooms: { "lobby": "do", "history": "do", "race-lab": "kv", "ask-bots": "do" },
    });
    browser = await launchChromium();
    if (want("chat")) {
      await shootChat(browser, worker, DESKTOP, "chat-desktop.png");
      await shootChat(browser, worker, PHONE, "chat-phone.png");
    }
    if (want("admin")) {
      await shootAdmin(browser, worker, DESKTOP, "admin-desktop.png");
      await shootAdmin(browser, worker, PHONE, "admin-phone.png");
    }
    if (want("scroll-back")) await shootScrollBack(browser, worker, "history", "chat-scroll-back.png");
    if (want("people")) {
      await shootPeople(browser, worker, DESKTOP, "chat-people.png");
      await shootPeople(browser, worker, { ...PHONE, colorScheme: "dark" }, "chat-dark-phone.png");
    }
    if (want("bots")) await shootBots(browser, worker, "ask-bots");
    console.log(`Saved screenshots to ${DOCS}`);
  } finally {
    await browser?.close();
    await worker.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
