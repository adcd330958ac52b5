// AI replies as Markdown in real Chromium: a streamed answer with a table and a fenced block is
// formatted while it grows and at the end, the code block's button copies its code, and a
// corpus of Markdown and HTML injections in replies leaves only allowed, inert elements.
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { newMessageId, type Message } from "../../src/shared/message";
import { api, messageRow, postMessage, putFlags } from "./support/browser";
import { useBrowserHarness } from "./support/browser-harness";

const harness = useBrowserHarness();
const BOT_ID = "md-bot";

/** A human question and the bot's claim on it: what a reply (or a stream) needs. */
async function askAndClaim(room: string, text: string): Promise<Message> {
  const question = await postMessage(harness.worker, room, text, "ana");
  const claim = { messageId: question.id, room, botId: BOT_ID };
  const claimed = await api(harness.worker, "/api/bot/claim", {
    method: "POST",
    body: claim,
    token: harness.worker.botToken,
  });
  expect(claimed.status).toBe(200);
  return question;
}

async function reply(room: string, question: Message, text: string, id?: string): Promise<void> {
  const body = { kind: "ai", room, replyTo: question.id, text, author: "bot", botId: BOT_ID, ...(id ? { id } : {}) };
  const posted = await api(harness.worker, "/api/comments", { method: "POST", body, token: harness.worker.botToken });
  expect(posted.status).toBe(201);
}

async function stream(room: string, question: Message, id: string, text: string): Promise<void> {
  const body = { room, id, replyTo: question.id, botId: BOT_ID, author: "bot", offset: 0, delta: text };
  const streamed = await api(harness.worker, "/api/bot/stream", {
    method: "POST",
    body,
    token: harness.worker.botToken,
  });
  expect(streamed.status).toBe(200);
}

const ALLOWED = new Set([
  "P",
  "BR",
  "EM",
  "STRONG",
  "DEL",
  "S",
  "CODE",
  "PRE",
  "BLOCKQUOTE",
  "UL",
  "OL",
  "LI",
  "HR",
  "H1",
  "H2",
  "H3",
  "H4",
  "H5",
  "H6",
  "TABLE",
  "THEAD",
  "TBODY",
  "TR",
  "TH",
  "TD",
  "A",
  // the page's own: the table's scroller, the code block with its copy button, the cursor
  "DIV",
  "BUTTON",
  "SPAN",
]);

/** Every element and attribute inside the page's formatted replies. */
const formatted = (page: Page) =>
  page.locator(".msg__text--md").evaluateAll((nodes) =>
    nodes.flatMap((node) =>
      Array.from(node.querySelectorAll("*")).map((e) => ({
        tag: e.tagName,
        attributes: Array.from(e.attributes).map((a) => `${a.name}=${a.value}`),
      })),
    ),
  );

describe("AI replies as Markdown", () => {
  it("formats a streamed answer while it grows and when it lands, and copies its code", async () => {
    const room = "markdown-stream";
    await putFlags(harness.worker, { defaultMode: "do", doPercent: 0, rooms: {} });
    const question = await askAndClaim(room, "How do I list files?");
    const { page, seen } = await harness.newPage();
    await page.context().grantPermissions(["clipboard-read", "clipboard-write"]);
    await page.goto(`${harness.worker.url}/r/${room}`);
    await messageRow(page, "How do I list files?").waitFor();

    const id = newMessageId();
    const head = "Use **ls**:\n\n```sh\nls -la";
    await stream(room, question, id, head);
    const growing = page.locator(`li[data-id="${id}"] .msg__text--md`);
    // The fence is still open: the code so far is already a code block, and bold is bold.
    await growing.locator("pre code", { hasText: "ls -la" }).waitFor();
    expect(await growing.locator("strong").textContent()).toBe("ls");

    const whole = `${head}\n${"```"}\n\n| flag | meaning |\n|---|:---:|\n| -l | long |\n| -a | all |`;
    await reply(room, question, whole, id);
    const done = page.locator(`li[data-id="${id}"] .msg__text--md`);
    await done.locator("table td.align-center", { hasText: "long" }).waitFor();
    expect(await done.locator("th").allTextContents()).toEqual(["flag", "meaning"]);
    expect(await done.locator("pre code").textContent()).toBe("ls -la\n");

    await done.getByRole("button", { name: "Copy code" }).click();
    await done.getByRole("button", { name: "Copy code" }).filter({ hasText: "Copied" }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe("ls -la\n");
    expect(seen.errors).toEqual([]);
  });

  it("renders injections inert: only allowed elements, no script, handler, style or javascript: link", async () => {
    const room = "markdown-inert";
    await putFlags(harness.worker, { defaultMode: "do", doPercent: 0, rooms: {} });
    // A few payloads per reply, so every reply fits in the page's first screenful of messages.
    const replies: string[] = [];
    for (let i = 0; i < INJECTIONS.length; i += PER_REPLY)
      replies.push(INJECTIONS.slice(i, i + PER_REPLY).join("\n\n"));
    for (const [i, text] of replies.entries()) await reply(room, await askAndClaim(room, `q${i}`), text);
    const { page, seen } = await harness.newPage();
    await page.goto(`${harness.worker.url}/r/${room}`);
    await page
      .locator(".msg__text--md")
      .nth(replies.length - 1)
      .waitFor();
    expect(await page.locator(".msg__text--md").count()).toBe(replies.length);

    const elements = await formatted(page);
    expect(elements.length).toBeGreaterThan(replies.length);
    expect(elements.filter((e) => !ALLOWED.has(e.tag))).toEqual([]);
    const attributes = elements.flatMap((e) => e.attributes);
    expect(attributes.filter((a) => /^(on|style|src|srcdoc|formaction)/i.test(a))).toEqual([]);
    const hrefs = attributes.filter((a) => a.startsWith("href=")).map((a) => a.slice("href=".length));
    expect(hrefs.length).toBeGreaterThan(0);
    expect(hrefs.filter((href) => !/^(https?:|mailto:)/i.test(href))).toEqual([]);
    expect(await page.evaluate(() => (window as unknown as { pwned?: boolean }).pwned)).toBeUndefined();
    expect(seen.dialogs).toEqual([]);
    expect(seen.errors).toEqual([]);
  });
});

const PER_REPLY = 4;
const INJECTIONS = [
  "<script>window.pwned = true; alert(1)</script>",
  '<img src=x onerror="window.pwned=true">',
  "<svg onload=alert(1)>",
  '<iframe src="javascript:alert(1)"></iframe>',
  '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
  "<style>body{display:none}</style>",
  '<a href="javascript:alert(1)">click</a>',
  '<div style="position:fixed;inset:0">overlay</div>',
  '<object data="javascript:alert(1)"></object>',
  '<embed src="javascript:alert(1)">',
  '<form action="https://evil.example"><button>go</button></form>',
  "<input autofocus onfocus=alert(1)>",
  "<details open ontoggle=alert(1)>",
  "<body onload=alert(1)>",
  '<meta http-equiv="refresh" content="0;url=https://evil.example">',
  "<link rel=stylesheet href=https://evil.example/x.css>",
  '<base href="https://evil.example/">',
  "<math><mtext><img src=x onerror=alert(1)></mtext></math>",
  '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
  "<template><img src=x onerror=alert(1)></template>",
  "[click](javascript:alert(1))",
  "[click](JAVASCRIPT:alert(1))",
  "[click](  javascript:alert(1))",
  "[click](java\tscript:alert(1))",
  "[click](&#106;avascript:alert(1))",
  "[click](javascript&colon;alert(1))",
  "[click](vbscript:msgbox(1))",
  "[click](data:text/html,<script>alert(1)</script>)",
  "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
  "[click](file:///etc/passwd)",
  "![img](javascript:alert(1))",
  '![img](https://example.com/x.png "onerror=alert(1)")',
  "![img](data:image/svg+xml,<svg onload=alert(1)>)",
  "<javascript:alert(1)>",
  "<https://example.com/ok>",
  "[ref][x]\n\n[x]: javascript:alert(1)",
  '[ref][y]\n\n[y]: https://example.com "title" onclick=alert(1)',
  '[a](https://example.com" onclick="alert(1))',
  "[a](<javascript:alert(1)>)",
  "`<script>alert(1)</script>`",
  "```html\n<script>alert(1)</script>\n```",
  '```" onmouseover="alert(1)\n<b>x</b>\n```',
  "```javascript onerror=alert(1)\nx\n```",
  "| a | b |\n|---|---|\n| <img src=x onerror=alert(1)> | [x](javascript:alert(1)) |",
  "> <script>alert(1)</script>",
  "- <a href=javascript:alert(1)>x</a>\n- [y](javascript:alert(1))",
  "**<img src=x onerror=alert(1)>**",
  "&lt;script&gt;alert(1)&lt;/script&gt;",
  "&#60;script&#62;alert(1)&#60;/script&#62;",
  "<!-- <script>alert(1)</script> -->",
  "<![CDATA[<script>alert(1)</script>]]>",
  "\u202e<script>alert(1)</script>",
  "www.example.com and https://example.com/?q=<script>",
  "mailto:someone@example.com and [m](mailto:a@example.com)",
  "<sc<script>ript>alert(1)</script>",
  "1. <video src=x onerror=alert(1)>\n2. <audio src=x onerror=alert(1)>",
];
