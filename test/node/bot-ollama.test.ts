// The bot and Ollama's thinking and pulling, through the bot's own code against a real local
// Worker and the Ollama-protocol stub: thinking stays out of replies unless BOT_THINK asks for
// it; a model that is not pulled is pulled with progress lines (BOT_PULL=1) or named with the
// exact command, and the bot keeps answering either way.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startLocalWorker, type LocalWorker } from "../../scripts/local-worker";
import { startBot, type BotHandle, type BotOptions } from "../../bot";
import { ConfigError, parseCommandLine, resolveConfig } from "../../bot/config";
import { MODEL_UNAVAILABLE, type Message } from "../../src/shared/message";
import { startOllamaStub, type OllamaStub, type OllamaStubOptions } from "./support/ollama-stub";
import { LogCapture, TestClient, repliesByHuman, tempStateFile, waitFor } from "./support/bot-harness";

let worker: LocalWorker;
let client: TestClient;
const bots: BotHandle[] = [];
const stubs: OllamaStub[] = [];
let rooms = 0;

beforeAll(async () => {
  worker = await startLocalWorker({ vars: { CACHE_MODE: "do", CLAIM_LEASE_MS: "3000" } });
  client = new TestClient(worker.url, worker.adminToken);
});

afterEach(async () => {
  await Promise.all(bots.splice(0).map((b) => b.stop()));
  await Promise.all(stubs.splice(0).map((s) => s.stop()));
});

afterAll(async () => {
  await worker?.stop();
});

async function stub(options: OllamaStubOptions = {}): Promise<OllamaStub> {
  const s = await startOllamaStub(options);
  stubs.push(s);
  return s;
}

async function bot(ollama: OllamaStub, options: BotOptions = {}) {
  const logs = new LogCapture();
  const room = `ollama-${(rooms++).toString(36)}`;
  const handle = await startBot({
    apiUrl: worker.url,
    token: worker.botToken,
    pollMs: 100,
    stateFile: tempStateFile(),
    log: logs.log,
    ollamaHost: ollama.url,
    rooms: [room],
    ...options,
  });
  bots.push(handle);
  return { bot: handle, logs, room };
}

/** Posts a question and waits for its reply (or its failure). */
async function ask(room: string, text: string): Promise<{ human: Message; reply?: Message }> {
  const { id } = await client.post(room, text);
  return waitFor(`an answer to "${text}"`, async () => {
    const messages = await client.comments(room);
    const human = messages.find((m) => m.id === id)!;
    if (human.status === "failed") return { human };
    const reply = repliesByHuman(messages).get(id)?.[0];
    return human.status === "complete" && reply && { human, reply };
  });
}

describe("bot and thinking models", () => {
  it("answers without the thinking by default: sends think: false, posts the answer alone", async () => {
    const ollama = await stub({ thinking: "The user greets me. I should greet back." });
    const { room } = await bot(ollama);
    const { reply } = await ask(room, "hello thinker");
    expect(reply?.text).toBe("stub reply to: tester: hello thinker");
    expect(ollama.chats.map((c) => c.think)).toEqual([false]);
  });

  it("strips <think>…</think> a model writes into its content", async () => {
    const ollama = await stub({ inlineThinking: "inner monologue, not for the room" });
    const { room } = await bot(ollama);
    const { reply } = await ask(room, "no monologue please");
    expect(reply?.text).toBe("stub reply to: tester: no monologue please");
  });

  it("BOT_THINK=on: asks with think: true and posts the thinking above the answer", async () => {
    const ollama = await stub({ thinking: "Step one. Step two." });
    const { bot: b, room } = await bot(ollama, { think: "on" });
    expect(b.responder.description).toContain("thinking on, shown in replies");
    const { reply } = await ask(room, "show your work");
    expect(reply?.text).toBe("Thinking:\nStep one. Step two.\n\nAnswer:\nstub reply to: tester: show your work");
    expect(ollama.chats.map((c) => c.think)).toEqual([true]);
  });

  it("BOT_THINK=high with a model that cannot think: says so and asks without thinking (no 400)", async () => {
    const ollama = await stub();
    const { logs, room } = await bot(ollama, { think: "high" });
    expect(
      logs.has(
        '[Bot] BOT_THINK=high: the model llama3.2 cannot think (Ollama does not list "thinking" among its capabilities); asking without thinking',
      ),
    ).toBe(true);
    const { reply } = await ask(room, "plain answer");
    expect(reply?.text).toBe("stub reply to: tester: plain answer");
    expect(ollama.chats.map((c) => c.think)).toEqual([false]);
  });
});

describe("bot and a model that is not pulled", () => {
  it("BOT_PULL=1: pulls it with progress lines, then answers with it", async () => {
    const ollama = await stub({ pulled: false });
    const { bot: b, logs, room } = await bot(ollama, { pull: true });
    expect(b.responder.kind).toBe("ollama");
    expect(ollama.pulls).toEqual(["llama3.2"]);
    const pullLines = logs.matching("[Bot] Pull");
    expect(pullLines[0]).toBe("[Bot] Pulling llama3.2 (BOT_PULL=1)…");
    expect(pullLines).toContain("[Bot] Pull llama3.2: pulling manifest");
    // One line per 10% of the layer, not one per progress report (the stub sends 41).
    const layer = pullLines.filter((l) => l.startsWith("[Bot] Pull llama3.2: pulling 74701a8c35f6"));
    expect(layer).toEqual(
      Array.from({ length: 11 }, (_, i) => `[Bot] Pull llama3.2: pulling 74701a8c35f6 ${i * 10}% of 1.3 GB`),
    );
    expect(pullLines.slice(-3)).toEqual([
      "[Bot] Pull llama3.2: removing any unused layers",
      "[Bot] Pull llama3.2: success",
      "[Bot] Pulled llama3.2",
    ]);
    const { reply } = await ask(room, "after the pull");
    expect(reply?.author).toBe("bot (llama3.2)");
  });

  it("without BOT_PULL: names the exact command, answers offline, and hands over to Ollama once the model is there", async () => {
    const ollama = await stub({ pulled: false });
    const { bot: b, logs, room } = await bot(ollama);
    expect(b.responder.kind).toBe("offline");
    const notice = logs.matching("[Bot] Ollama unavailable")[0];
    expect(notice).toContain(`Ollama 0.0.0-stub at ${ollama.url} does not have the model "llama3.2"`);
    expect(notice).toContain(
      "run `ollama pull llama3.2` on the Ollama machine, or start the bot with BOT_PULL=1 (--pull) to pull it",
    );

    const before = await ask(room, "anyone home?");
    expect(before.reply?.author).toBe("bot (offline)");
    // Someone runs `ollama pull llama3.2`: the next reply comes from the model, without a restart.
    ollama.pulled = true;
    const after = await ask(room, "now?");
    expect(after.reply?.author).toBe("bot (llama3.2)");
    expect(after.reply?.text).toBe("stub reply to: tester: now?");
    expect(b.responder.kind).toBe("ollama");
    expect(ollama.pulls).toEqual([]);
  });

  it("BOT_PULL=1 for a model the registry does not have: says why and keeps answering offline", async () => {
    const ollama = await stub({ pulled: false, pullable: false });
    const { bot: b, logs, room } = await bot(ollama, { pull: true });
    expect(b.responder.kind).toBe("offline");
    expect(logs.matching("[Bot] Ollama unavailable")[0]).toContain(
      `pulling "llama3.2" on Ollama at ${ollama.url} failed (pull model manifest: file does not exist)`,
    );
    const { reply } = await ask(room, "still there?");
    expect(reply?.author).toBe("bot (offline)");
  });

  it("a model gone mid-run: pulled again with BOT_PULL=1; without it the message fails saying how to pull it", async () => {
    const pulling = await stub();
    const { room } = await bot(pulling, { pull: true });
    pulling.pulled = false;
    const { reply } = await ask(room, "model vanished");
    expect(reply?.author).toBe("bot (llama3.2)");
    expect(pulling.pulls).toEqual(["llama3.2"]);

    const plain = await stub();
    const { room: other } = await bot(plain, { maxAttempts: 1 });
    plain.pulled = false;
    const { human } = await ask(other, "model vanished again");
    expect(human.status).toBe("failed");
    // The host only for operators; everyone in the room reads that the model is unavailable.
    expect(human.error).toBe(MODEL_UNAVAILABLE);
    expect(await client.failureDetail(other, human.id)).toContain(
      `Ollama at ${plain.url} does not have the model "llama3.2": run \`ollama pull llama3.2\``,
    );
    expect(plain.pulls).toEqual([]);
  });
});

describe("bot settings for thinking and pulling", () => {
  it("BOT_THINK takes off/on/low/medium/high (and 1/0); BOT_PULL is a switch; anything else is one clear line", () => {
    const parse = (argv: string[], env: NodeJS.ProcessEnv) => {
      const parsed = parseCommandLine(argv, env);
      if (parsed.help) throw new Error("unexpected --help");
      return resolveConfig({ token: "t", ...parsed.options });
    };
    expect(parse([], {})).toMatchObject({ think: "off", pull: false });
    expect(parse([], { BOT_THINK: "1", BOT_PULL: "1" })).toMatchObject({ think: "on", pull: true });
    expect(parse(["--think", "medium", "--pull"], { BOT_THINK: "0" })).toMatchObject({ think: "medium", pull: true });
    expect(() => parse([], { BOT_THINK: "maybe" })).toThrow(
      new ConfigError("BOT_THINK must be one of off, on, low, medium, high"),
    );
  });
});
