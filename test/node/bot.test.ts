// The bot against a real local Worker (do mode) and the Ollama-protocol stub:
// every human message answered exactly once, by one bot or several, even when a bot dies.
import type { ChildProcess } from "node:child_process";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startLocalWorker, type LocalWorker } from "../../scripts/local-worker";
import { startBot, type BotHandle, type BotOptions } from "../../bot";
import { startOllamaStub, type OllamaStub } from "./support/ollama-stub";
import { LogCapture, TestClient, repliesByHuman, tempStateFile, waitFor } from "./support/bot-harness";
import { spawnBotProcess } from "./support/bot-process";

const LEASE_MS = 3000;
let worker: LocalWorker;
let client: TestClient;
const bots: BotHandle[] = [];
const stubs: OllamaStub[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  worker = await startLocalWorker({ vars: { CACHE_MODE: "do", CLAIM_LEASE_MS: String(LEASE_MS) } });
  client = new TestClient(worker.url, worker.adminToken);
});

afterEach(async () => {
  await Promise.all(bots.splice(0).map((b) => b.stop()));
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  await Promise.all(stubs.splice(0).map((s) => s.stop()));
});

afterAll(async () => {
  await worker?.stop();
});

async function stub(options: Parameters<typeof startOllamaStub>[0] = {}): Promise<OllamaStub> {
  const s = await startOllamaStub(options);
  stubs.push(s);
  return s;
}

async function bot(
  options: BotOptions & { ollamaHost: string },
  logs = new LogCapture(),
): Promise<{ bot: BotHandle; logs: LogCapture }> {
  const handle = await startBot({
    apiUrl: worker.url,
    token: worker.botToken,
    pollMs: 100,
    stateFile: tempStateFile(),
    log: logs.log,
    ...options,
  });
  bots.push(handle);
  return { bot: handle, logs };
}

/** Waits until every given human message is complete, and returns the rooms' messages. */
async function allAnswered(room: string, humanIds: string[]) {
  return waitFor(`all ${humanIds.length} messages in #${room} complete`, async () => {
    const messages = await client.comments(room);
    const humans = messages.filter((m) => humanIds.includes(m.id));
    return humans.length === humanIds.length && humans.every((m) => m.status === "complete") && messages;
  });
}

describe("bot (do mode)", () => {
  it("answers 20 human messages in 2 rooms with exactly 20 replies, each replyTo right", async () => {
    const ollama = await stub({ tokenDelayMs: 1 });
    const { bot: b, logs } = await bot({ ollamaHost: ollama.url, rooms: ["alpha", "beta"], botId: "bot-one" });
    expect(b.responder.kind).toBe("ollama");

    const posted = { alpha: [] as string[], beta: [] as string[] };
    for (let i = 0; i < 10; i++) {
      for (const room of ["alpha", "beta"] as const)
        posted[room].push((await client.post(room, `${room} question ${i}`)).id);
    }

    for (const room of ["alpha", "beta"] as const) {
      const messages = await allAnswered(room, posted[room]);
      const replies = messages.filter((m) => m.kind === "ai");
      expect(replies).toHaveLength(10);
      const byHuman = repliesByHuman(messages);
      for (const id of posted[room]) {
        const [reply, ...extra] = byHuman.get(id) ?? [];
        expect(extra).toEqual([]);
        const human = messages.find((m) => m.id === id)!;
        // The model saw the human message last, so the reply answers that message.
        expect(reply?.text).toBe(`stub reply to: tester: ${human.text}`);
        expect(reply?.author).toBe("bot (llama3.2)");
        expect(reply?.room).toBe(room);
      }
    }
    expect(ollama.chats).toHaveLength(20);
    expect(
      ollama.chats.every((c) => c.stream === true && c.model === "llama3.2" && c.messages[0]?.role === "system"),
    ).toBe(true);

    // Every acknowledged reply is verified; in do mode none is ever missing.
    await waitFor(
      "verification of all replies",
      () => b.pendingVerification() === 0 && logs.has("[Self-Heal] All pending AI responses verified"),
    );
    expect(logs.matching("[Self-Heal] Added AI response to pending:")).toHaveLength(20);
    expect(logs.matching("[Self-Heal] ✅ AI response found in cache:")).toHaveLength(20);
    expect(logs.matching("[Self-Heal] AI response missing")).toEqual([]);
  });

  it("sends the last BOT_CONTEXT messages of the room as context, the answered message last", async () => {
    const ollama = await stub();
    const first = await client.post("ctx", "first message");
    const earlier = await bot({ ollamaHost: ollama.url, rooms: ["ctx"], contextSize: 3, botId: "ctx-bot" });
    await allAnswered("ctx", [first.id]);
    await earlier.bot.stop();
    const second = await client.post("ctx", "second message");
    const third = await client.post("ctx", "third message");
    await bot({ ollamaHost: ollama.url, rooms: ["ctx"], contextSize: 3, botId: "ctx-bot-2" });
    await allAnswered("ctx", [second.id, third.id]);

    // Room order: first, its reply, second, third, second's reply. The third message's
    // context is the 3 messages up to it; the reply posted after it is left out.
    expect(ollama.chats).toHaveLength(3);
    expect(ollama.chats[2]!.messages.slice(1)).toEqual([
      { role: "assistant", content: "stub reply to: tester: first message" },
      { role: "user", content: JSON.stringify({ speaker: "tester", text: "second message" }) },
      { role: "user", content: JSON.stringify({ speaker: "tester", text: "third message" }) },
    ]);
    expect(ollama.chats[2]!.messages[0]).toMatchObject({ role: "system", content: expect.stringContaining("#ctx") });
  });

  it("two bots never answer one message twice", async () => {
    const ollama = await stub({ delayMs: 150 });
    const one = await bot({ ollamaHost: ollama.url, rooms: ["duo"], botId: "duo-one" });
    const two = await bot({ ollamaHost: ollama.url, rooms: ["duo"], botId: "duo-two" });
    const ids = await Promise.all(
      Array.from({ length: 12 }, (_, i) => client.post("duo", `duo question ${i}`).then((m) => m.id)),
    );

    const messages = await allAnswered("duo", ids);
    const byHuman = repliesByHuman(messages);
    for (const id of ids) expect(byHuman.get(id)).toHaveLength(1);
    expect(messages.filter((m) => m.kind === "ai")).toHaveLength(12);
    const answered = (l: LogCapture) => l.matching(/\[Bot\] Answered /).length;
    expect(answered(one.logs) + answered(two.logs)).toBe(12);
  });

  it("a bot killed mid-generation: its message is answered once, by another bot, after the lease", async () => {
    const hanging = await stub();
    hanging.behaviour = "hang";
    const victim = spawnBot({ BOT_ID: "victim", OLLAMA_HOST: hanging.url, BOT_ROOMS: "crash" });
    const human = await client.post("crash", "will the bot survive?");

    await waitFor("the victim to claim the message and start generating", async () => {
      const record = (await client.comments("crash")).find((m) => m.id === human.id);
      return hanging.chats.length === 1 && record?.status === "processing" && record.claimedBy === "victim";
    });
    victim.kill("SIGKILL");
    await new Promise((r) => victim.once("exit", r));

    const ollama = await stub();
    const rescuer = await bot({ ollamaHost: ollama.url, rooms: ["crash"], botId: "rescuer" });
    const messages = await allAnswered("crash", [human.id]);
    const replies = repliesByHuman(messages).get(human.id) ?? [];
    expect(replies).toHaveLength(1);
    expect(rescuer.logs.has(`[Bot] Answered ${human.id} in #crash with ${replies[0]!.id}`)).toBe(true);
  });

  it("a bot frozen past its lease loses the message without a second reply", async () => {
    const slow = await stub({ delayMs: 1500 });
    const frozen = spawnBot({ BOT_ID: "frozen", OLLAMA_HOST: slow.url, BOT_ROOMS: "freeze" });
    const human = await client.post("freeze", "who answers me?");
    await waitFor("the frozen bot to claim", async () => slow.chats.length === 1);
    frozen.kill("SIGSTOP"); // no renewals while stopped: its lease runs out

    const ollama = await stub();
    const rescuer = await bot({ ollamaHost: ollama.url, rooms: ["freeze"], botId: "thaw-rescuer" });
    await allAnswered("freeze", [human.id]);
    frozen.kill("SIGCONT");
    // Woken, the frozen bot finds its lease gone (renewal refused) or its reply refused with 409.
    const output = await waitFor(
      "the frozen bot to give the message up",
      () =>
        /lease on .* lost|was answered by another bot/.test(childOutput.get(frozen)?.() ?? "") &&
        childOutput.get(frozen)?.(),
    );
    expect(output).not.toMatch(/\[Bot\] Answered /);
    const replies = repliesByHuman(await client.comments("freeze")).get(human.id) ?? [];
    expect(replies).toHaveLength(1);
    expect(rescuer.logs.has(`[Bot] Answered ${human.id}`)).toBe(true);
  });
});

const childOutput = new Map<ChildProcess, () => string>();

function spawnBot(env: Record<string, string>): ChildProcess {
  const { child, output } = spawnBotProcess(worker, env);
  childOutput.set(child, output);
  children.push(child);
  return child;
}
