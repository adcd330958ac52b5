// How the bot fails: no Ollama, a broken or stuck model, a restart with replies still
// unverified, a Worker that is down, a wrong token, and a clean shutdown on SIGTERM.
import { randomBytes } from "node:crypto";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { PROJECT_ROOT, freePort, startLocalWorker, type LocalWorker } from "../../scripts/local-worker";
import { FatalBotError, startBot, type BotHandle, type BotOptions } from "../../bot";
import { startOllamaStub, type OllamaStub } from "./support/ollama-stub";
import { MODEL_UNAVAILABLE, type Message } from "../../src/shared/message";
import { LogCapture, TestClient, repliesByHuman, tempStateFile, waitFor } from "./support/bot-harness";

let worker: LocalWorker | undefined;
let client: TestClient;
const bots: BotHandle[] = [];
const stubs: OllamaStub[] = [];

afterEach(async () => {
  await Promise.all(bots.splice(0).map((b) => b.stop()));
  await Promise.all(stubs.splice(0).map((s) => s.stop()));
});

afterAll(async () => {
  await worker?.stop();
});

async function stub(): Promise<OllamaStub> {
  const s = await startOllamaStub();
  stubs.push(s);
  return s;
}

function requireWorker(): LocalWorker {
  if (!worker) throw new Error("the first test starts the worker");
  return worker;
}

async function bot(options: BotOptions, logs = new LogCapture()) {
  const w = requireWorker();
  const handle = await startBot({
    apiUrl: w.url,
    token: w.botToken,
    pollMs: 100,
    stateFile: tempStateFile(),
    log: logs.log,
    ...options,
  });
  bots.push(handle);
  return { bot: handle, logs };
}

async function settled(id: string) {
  return waitFor(`message ${id} to be complete or failed`, async () => {
    const record =
      (await client.comments("lobby").then((list) => list.find((m) => m.id === id))) ??
      (await client.record(id, "lobby"));
    return (record.status === "complete" || record.status === "failed") && record;
  });
}

/** A reply an earlier bot run posted, holding the claim (only a claim holder may answer). */
async function earlierReply(
  human: Message,
  text: string,
  room = human.room,
): Promise<{ id: string; room: string; createdAt: number }> {
  const w = requireWorker();
  const botCall = (path: string, body: unknown) =>
    fetch(`${w.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", "authorization": `Bearer ${w.botToken}` },
      body: JSON.stringify(body),
    });
  await botCall("/api/bot/claim", { messageId: human.id, room, botId: "earlier-run" });
  const res = await botCall("/api/comments", {
    kind: "ai",
    room,
    replyTo: human.id,
    text,
    author: "bot",
    botId: "earlier-run",
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; room: string; createdAt: number };
}

/** Runs `tsx bot/main.ts` as its own process (Node 22, as npm runs it). */
function runMain(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ["--import", "tsx", join(PROJECT_ROOT, "bot", "main.ts"), ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, BOT_POLL_MS: "100", BOT_STATE_FILE: tempStateFile(), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr.on("data", (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, exited, output: () => output };
}

describe("bot failure behaviour", () => {
  it("keeps polling while the Worker is down, then answers once it is up", async () => {
    const port = await freePort();
    const botToken = randomBytes(24).toString("base64url");
    const ollama = await stub();
    const logs = new LogCapture();
    const early = await startBot({
      apiUrl: `http://127.0.0.1:${port}`,
      token: botToken,
      pollMs: 100,
      ollamaHost: ollama.url,
      stateFile: tempStateFile(),
      log: logs.log,
    });
    bots.push(early);
    await logs.waitFor(/\[Bot\] Worker unavailable \(.*ECONNREFUSED.*\); retrying in \d+ ms/);

    worker = await startLocalWorker({ port, botToken, vars: { CACHE_MODE: "do", CLAIM_LEASE_MS: "3000" } });
    client = new TestClient(worker.url, worker.adminToken);
    const human = await client.post("lobby", "anyone there?");
    await logs.waitFor(`[Bot] Worker at http://127.0.0.1:${port} is answering again`);
    expect((await settled(human.id)).status).toBe("complete");
    let finished = false;
    void early.done.finally(() => (finished = true));
    await Promise.resolve();
    expect(finished).toBe(false); // still running, no crash
  });

  it("falls back to the offline responder when Ollama is unreachable, and says so", async () => {
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const { bot: b, logs } = await bot({ ollamaHost: nobody });
    expect(b.responder.kind).toBe("offline");
    const notice = logs.matching("[Bot] Ollama unavailable")[0];
    expect(notice).toContain(`no Ollama server answers at ${nobody}`);
    expect(notice).toContain("ollama pull llama3.2");
    expect(notice).toContain("OLLAMA_HOST");

    const human = await client.post("lobby", "hello offline bot");
    expect((await settled(human.id)).status).toBe("complete");
    const reply = repliesByHuman(await client.comments("lobby")).get(human.id)?.[0];
    expect(reply?.author).toBe("bot (offline)");
    expect(reply?.text).toContain("hello offline bot");
  });

  it("treats a server without the model as unavailable too", async () => {
    const ollama = await stub();
    const { bot: b, logs } = await bot({ ollamaHost: ollama.url, model: "no-such-model" });
    expect(b.responder.kind).toBe("offline");
    expect(logs.matching("[Bot] Ollama unavailable")[0]).toContain('does not have the model "no-such-model"');
  });

  it("--require-ollama exits non-zero with the fix instead of going offline", async () => {
    const run = runMain(["--require-ollama"], {
      CHAT_API_URL: requireWorker().url,
      BOT_TOKEN: requireWorker().botToken,
      OLLAMA_HOST: `http://127.0.0.1:${await freePort()}`,
    });
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(
      /\[Bot\] Ollama unavailable: no Ollama server answers .*ollama pull llama3\.2.*Exiting \(--require-ollama\)/,
    );
  });

  it("--help lists every setting; a bad setting exits 2 with one line", async () => {
    const help = runMain(["--help"], {});
    expect(await help.exited).toBe(0);
    for (const name of [
      "CHAT_API_URL",
      "BOT_TOKEN",
      "BOT_ROOMS",
      "BOT_ID",
      "OLLAMA_HOST",
      "OLLAMA_MODEL",
      "BOT_POLL_MS",
      "BOT_CONTEXT",
      "BOT_TIMEOUT_MS",
      "BOT_STATE_FILE",
      "BOT_SYSTEM_PROMPT",
      "--offline",
      "--require-ollama",
    ]) {
      expect(help.output()).toContain(name);
    }
    // A token is given so the result does not depend on whether .dev.vars exists (a clean clone has none).
    const bad = runMain(["--poll-ms", "soon"], { BOT_TOKEN: "any-token" });
    expect(await bad.exited).toBe(2);
    expect(bad.output().trim()).toBe("[Bot] BOT_POLL_MS must be a number");
  });

  it("retries a failing model with backoff, then succeeds", async () => {
    const ollama = await stub();
    ollama.failNext(1);
    const { logs } = await bot({ ollamaHost: ollama.url, maxAttempts: 3 });
    const human = await client.post("lobby", "try again please");
    expect((await settled(human.id)).status).toBe("complete");
    expect(ollama.chats).toHaveLength(2);
    expect(
      logs.matching(
        `[Bot] Reply to ${human.id} failed (attempt 1/3): generation failed: stub failure (HTTP 500); released, retrying in 100 ms`,
      ),
    ).toHaveLength(1);
  });

  it("marks the message failed with the reason after a bounded number of Ollama errors", async () => {
    const ollama = await stub();
    ollama.behaviour = "error";
    const { logs } = await bot({ ollamaHost: ollama.url, maxAttempts: 3 });
    const human = await client.post("lobby", "this will not work");
    const record = await settled(human.id);
    expect(record.status).toBe("failed");
    // Viewers see no host and no error text; operators see the bot's own reason.
    expect(record.error).toBe(MODEL_UNAVAILABLE);
    const detail = await client.failureDetail("lobby", human.id);
    expect(detail).toContain("stub: model runner crashed");
    expect(detail).toContain("gave up after 3 attempts");
    expect(ollama.chats).toHaveLength(3);
    expect(logs.matching(/failed \(attempt [12]\/3\).*released, retrying in (100|200) ms/)).toHaveLength(2);
    expect(logs.has(`[Bot] Gave up on ${human.id} after 3 attempts`)).toBe(true);
    expect(repliesByHuman(await client.comments("lobby")).get(human.id)).toBeUndefined();
  });

  it("times out a stuck generation, retries, then marks it failed", async () => {
    const ollama = await stub();
    ollama.behaviour = "hang";
    await bot({ ollamaHost: ollama.url, maxAttempts: 2, timeoutMs: 300 });
    const human = await client.post("lobby", "are you stuck?");
    const record = await settled(human.id);
    expect(record.status).toBe("failed");
    expect(record.error).toBe(MODEL_UNAVAILABLE);
    expect(await client.failureDetail("lobby", human.id)).toContain("generation timed out after 300 ms");
    expect(ollama.chats).toHaveLength(2);
  });

  it("resumes verifying the replies in a non-empty state file after a restart", async () => {
    const human = await client.post("lobby", "answered before the restart");
    // A reply the previous run posted and the server acknowledged, but that run never verified.
    const reply = await earlierReply(human, "an earlier answer");
    const stateFile = tempStateFile();
    writeFileSync(
      stateFile,
      JSON.stringify({
        version: 1,
        pending: [{ id: reply.id, room: reply.room, replyTo: human.id, addedAt: Date.now() }],
      }),
    );

    const { logs } = await bot({ offline: true, stateFile });
    await logs.waitFor("[Self-Heal] All pending AI responses verified");
    expect(logs.has(`[Self-Heal] Resuming verification of 1 pending AI response(s) from ${stateFile}`)).toBe(true);
    expect(logs.has(`[Self-Heal] ✅ AI response found in cache: ${reply.id}`)).toBe(true);
    expect(JSON.parse(readFileSync(stateFile, "utf8"))).toEqual({ version: 1, pending: [] });
  });

  it("stops checking a reply that aged out of the room's newest 200 messages instead of healing it forever", async () => {
    // kv mode: a heal re-adds by age and trims to 200, so an old reply could never come back into view.
    await client.setFlags({ defaultMode: "do", doPercent: 0, rooms: { "busy-kv": "kv" } });
    const human = await client.post("busy-kv", "an old question");
    const reply = await earlierReply(human, "an old answer");
    for (let i = 0; i < 200; i++) await client.post("busy-kv", `later message ${i}`); // one at a time: kv mode loses concurrent posts
    const stateFile = tempStateFile();
    writeFileSync(
      stateFile,
      JSON.stringify({
        version: 1,
        pending: [{ id: reply.id, room: "busy-kv", replyTo: human.id, addedAt: reply.createdAt }],
      }),
    );

    const { logs } = await bot({ offline: true, rooms: ["quiet"], stateFile });
    await logs.waitFor("[Self-Heal] All pending AI responses verified");
    expect(
      logs.has(
        `[Self-Heal] AI response ${reply.id} is older than the newest 200 messages of #busy-kv; no longer checked`,
      ),
    ).toBe(true);
    expect(logs.has("[Self-Heal] AI response missing")).toBe(false);
  });

  it("stops verifying a reply an operator deleted: the heal's 410 is final", async () => {
    const human = await client.post("moderated", "a question");
    // An earlier run answered and left the reply unverified in its state file.
    const reply = await earlierReply(human, "a rude answer", "moderated");
    expect((await client.deleteMessage("moderated", reply.id)).deleted).toBe(true);
    const stateFile = tempStateFile();
    writeFileSync(
      stateFile,
      JSON.stringify({
        version: 1,
        pending: [{ id: reply.id, room: "moderated", replyTo: human.id, addedAt: reply.createdAt }],
      }),
    );

    const { logs } = await bot({ offline: true, rooms: ["quiet"], stateFile });
    await logs.waitFor("[Self-Heal] All pending AI responses verified");
    expect(logs.has(`[Self-Heal] AI response ${reply.id} was deleted by an operator; no longer checked`)).toBe(true);
    expect(logs.matching(`[Self-Heal] AI response missing, triggering heal: ${reply.id}`)).toHaveLength(1);
    expect(JSON.parse(readFileSync(stateFile, "utf8"))).toEqual({ version: 1, pending: [] });
  });

  it("drops its reply when an operator deletes the message while it generates (410), and posts none", async () => {
    const ollama = await stub();
    let deleted: Promise<unknown> | undefined;
    const { logs } = await bot({ ollamaHost: ollama.url, rooms: ["mod-live"] });
    const human = await client.post("mod-live", "delete me while you think");
    // The generation is held at its end until the operator's deletion went through.
    ollama.beforeDone = async () => {
      deleted ??= client.deleteMessage("mod-live", human.id);
      await deleted;
    };
    await logs.waitFor(`[Bot] ${human.id} was deleted by an operator; dropping my reply`);
    expect(ollama.chats).toHaveLength(1);
    expect(await client.comments("mod-live")).toEqual([]);
  });

  it("stops for good on a wrong BOT_TOKEN, with a clear reason", async () => {
    const { bot: b } = await bot({ offline: true, token: "not-the-token" });
    await expect(b.done).rejects.toThrow(FatalBotError);
    await expect(b.done).rejects.toThrow(/refused BOT_TOKEN \(401\)/);
  });

  it("on SIGTERM releases its claim, saves its state and exits 0", async () => {
    const ollama = await stub();
    ollama.behaviour = "hang";
    const stateFile = tempStateFile();
    const w = requireWorker();
    const run = runMain([], {
      CHAT_API_URL: w.url,
      BOT_TOKEN: w.botToken,
      BOT_ID: "sigterm-bot",
      OLLAMA_HOST: ollama.url,
      BOT_STATE_FILE: stateFile,
    });
    const human = await client.post("lobby", "hold on to this");
    await waitFor("the bot to claim and start generating", async () => {
      const record = (await client.comments("lobby")).find((m) => m.id === human.id);
      return ollama.chats.length === 1 && record?.claimedBy === "sigterm-bot";
    });
    run.child.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain("[Bot] SIGTERM received");
    const record = (await client.comments("lobby")).find((m) => m.id === human.id);
    expect(record?.status).toBe("pending"); // released at once, not left to the lease
    expect(record?.claimedBy).toBeUndefined();
    expect(existsSync(stateFile)).toBe(true);
  });
});
