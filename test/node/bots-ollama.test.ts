// Two registered bots with different models in one room, each run by the bot's own code against
// a real local Worker and its own Ollama-protocol stub: each answers only the messages that
// mention it, under its own name, with its own model; the tokens Ollama counted reach the
// operator's bots list.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalWorker, type LocalWorker } from "../../scripts/local-worker";
import { startBot, type BotHandle } from "../../bot";
import type { BotsResponse, BotTokenResponse } from "../../src/shared/bots";
import { startOllamaStub, type OllamaStub } from "./support/ollama-stub";
import { LogCapture, TestClient, repliesByHuman, tempStateFile, waitFor } from "./support/bot-harness";

let worker: LocalWorker;
let client: TestClient;
const handles: BotHandle[] = [];
const stubs: OllamaStub[] = [];

beforeAll(async () => {
  worker = await startLocalWorker({ vars: { CACHE_MODE: "do", CLAIM_LEASE_MS: "3000" } });
  client = new TestClient(worker.url, worker.adminToken);
});

afterAll(async () => {
  await Promise.all(handles.splice(0).map((b) => b.stop()));
  await Promise.all(stubs.splice(0).map((s) => s.stop()));
  await worker?.stop();
});

async function admin<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${worker.url}${path}`, {
    method,
    headers: { "authorization": `Bearer ${worker.adminToken}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** A registered bot on its own stub, which counts `prompt` and `reply` tokens for every chat. */
async function registeredBot(name: string, model: string, room: string, prompt: number, reply: number) {
  const ollama = await startOllamaStub({ model, counts: () => ({ prompt, reply }) });
  stubs.push(ollama);
  const { token } = await admin<BotTokenResponse>("POST", "/api/admin/bots", { name, model, rooms: [room] });
  const logs = new LogCapture();
  // No model and no rooms given: the token's bot brings both.
  const handle = await startBot({
    apiUrl: worker.url,
    token,
    pollMs: 100,
    stateFile: tempStateFile(),
    log: logs.log,
    ollamaHost: ollama.url,
  });
  handles.push(handle);
  return { ollama, handle, logs };
}

describe("two registered bots in one room", () => {
  it("answer only their mentions, each with its model and name; tokens reach the bots list", async () => {
    const room = `duo-${Date.now().toString(36)}`;
    const ann = await registeredBot("ann", "alpha", room, 50, 7);
    const bob = await registeredBot("bob", "beta", room, 30, 3);
    expect(ann.handle.config).toMatchObject({ botId: "ann", model: "alpha", rooms: [room] });
    expect(bob.handle.config).toMatchObject({ botId: "bob", model: "beta", rooms: [room] });

    const asks = [
      await client.post(room, "@ann what is one plus one?"),
      await client.post(room, "@bob and two plus two?"),
      await client.post(room, "hey @bob, and three?"),
    ];
    const replies = await waitFor("three replies", async () => {
      const byHuman = repliesByHuman(await client.comments(room));
      return asks.every((a) => byHuman.get(a.id)?.length === 1) && byHuman;
    });
    expect(asks.map((a) => replies.get(a.id)![0]!.author)).toEqual(["ann", "bob", "bob"]);
    // Each stub saw only its own bot's questions, asked of its own model.
    const lastSaid = (o: OllamaStub) => o.chats.map((c) => JSON.parse(c.messages.at(-1)!.content).text as string);
    expect(lastSaid(ann.ollama)).toEqual(["@ann what is one plus one?"]);
    expect(lastSaid(bob.ollama).sort()).toEqual(["@bob and two plus two?", "hey @bob, and three?"]);
    expect(new Set(ann.ollama.chats.map((c) => c.model))).toEqual(new Set(["alpha"]));
    expect(new Set(bob.ollama.chats.map((c) => c.model))).toEqual(new Set(["beta"]));

    // The stats store sums in batches: wait (bounded) for both bots' counts.
    const bots = await waitFor("token counts in the bots list", async () => {
      const { bots } = await admin<BotsResponse>("GET", "/api/admin/bots");
      const [a, b] = [bots.find((x) => x.name === "ann"), bots.find((x) => x.name === "bob")];
      return a?.answered === 1 && b?.answered === 2 && { a, b };
    });
    expect(bots.a).toMatchObject({ model: "alpha", failed: 0, tokensIn: 50, tokensOut: 7 });
    expect(bots.b).toMatchObject({ model: "beta", failed: 0, tokensIn: 60, tokensOut: 6 });
    expect(bots.a.lastSeen).not.toBeNull();
  });
});
