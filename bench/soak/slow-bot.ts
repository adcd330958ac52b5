// The real bot (bot/main.ts, --offline) as the soak runs it, with two additions made
// from outside because the bot has no option for them:
//  - generation takes SOAK_GENERATION_MS (the offline responder answers at once, so a
//    kill would almost never land mid-generation): "[Soak] generating <human id>";
//  - every answer to a reply post, and every 5xx or missing answer, is printed with the
//    room's mode from X-Cache-Mode, so the soak knows which path acknowledged each reply;
//    a reply post is printed before it goes out, so the soak's history has its invocation.
// Nothing else changes: the bot's own loop, lease, retries, state file and self-heal run.
import { OfflineResponder } from "../../bot/responder";
import { MODE_HEADER } from "../../src/shared/api";
import { sleep } from "../lib/time";

const generationMs = Number(process.env.SOAK_GENERATION_MS ?? 0);

/** The message this process claimed last: one bot generates one reply at a time, right after its claim. */
let claimed = "?";

type Sent = { method: string; path: string; body: Record<string, unknown> };

function describe(input: Parameters<typeof fetch>[0], init?: RequestInit): Sent {
  const url = new URL(input instanceof Request ? input.url : String(input));
  let body: Record<string, unknown> = {};
  try {
    if (typeof init?.body === "string") body = JSON.parse(init.body) as Record<string, unknown>;
  } catch {
    // not JSON: nothing to report from it
  }
  const room = url.searchParams.get("room") ?? body.room;
  return { method: init?.method ?? "GET", path: url.pathname, body: { ...body, ...(room ? { room } : {}) } };
}

const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  const sent = describe(input, init);
  const room = String(sent.body.room ?? "-");
  const replyPost = sent.path === "/api/comments" && sent.method === "POST" && sent.body.kind === "ai";
  // Written to a pipe synchronously: in the soak's hands before the request leaves.
  if (replyPost) console.log(`[Soak] sending reply ${String(sent.body.id)} to ${String(sent.body.replyTo)} in ${room}`);
  let response: Response;
  try {
    response = await realFetch(input, init);
  } catch (err) {
    console.log(`[Soak] no answer: ${sent.method} ${sent.path} room=${room}`);
    if (replyPost) console.log(`[Soak] reply ${String(sent.body.id)} answered 0 mode=-`);
    throw err;
  }
  const mode = response.headers.get(MODE_HEADER) ?? "-";
  if (response.status >= 500)
    console.log(`[Soak] ${response.status}: ${sent.method} ${sent.path} room=${room} mode=${mode}`);
  if (sent.path === "/api/bot/claim" && response.ok) claimed = String(sent.body.messageId);
  if (replyPost && response.ok) {
    console.log(
      `[Soak] reply ${String(sent.body.id)} to ${String(sent.body.replyTo)} in ${room} acknowledged: ${response.status} mode=${mode}`,
    );
  } else if (replyPost) console.log(`[Soak] reply ${String(sent.body.id)} answered ${response.status} mode=${mode}`);
  return response;
};

const reply = OfflineResponder.prototype.reply;
OfflineResponder.prototype.reply = async function (this: OfflineResponder, turns, signal) {
  console.log(`[Soak] generating ${claimed} for ${generationMs} ms`);
  await sleep(generationMs, signal);
  return reply.call(this, turns, signal);
};

await import("../../bot/main");
