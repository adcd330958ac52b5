// Two registered bots with different models in one room, each run by the bot's own code against
// a real local Worker and its own Ollama-protocol stub: each answers only the messages that
// mention it, under its own name, with its own model; the tokens Ollama counted reach the
// operator's bots list.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
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
const servers: Server[] = [];

beforeAll(async () => {
  worker = await startLocalWorker({ vars: { CACHE_MODE: "do", CLAIM_LEASE_MS: "3000" } });
  client = new TestClient(worker.url, worker.adminToken);
});

afterAll(async () => {
  await Promise.all(handles.splice(0).map((b) => b.stop()));
  await Promise.all(stubs.splice(0).map((s) => s.stop()));
  for (const server of servers.splice(0)) server.closeAllConnections();
  await Promise.all(servers.map((server) => new Promise((r) => server.close(r))));
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
/**
 * A registered bot on its own stub, which counts `prompt` and `reply` tokens for every chat;
 * `apiUrl`: where the bot finds the Worker (default: the Worker itself).
 */
async function registeredBot(name: string, model: string, room: string, prompt = 1, reply = 1, apiUrl?: string) {
  const ollama = await startOllamaStub({ model, counts: () => ({ prompt, reply }) });
  stubs.push(ollama);
  const { token } = await admin<BotTokenResponse>("POST", "/api/admin/bots", { name, model, rooms: [room] });
  const logs = new LogCapture();
  // No model and no rooms given: the token's bot brings both.
  const handle = await startBot({
    apiUrl: apiUrl ?? worker.url,
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

/** A proxy to the Worker that answers its first `down` requests 503, as a Worker still starting would. */
async function flakyProxy(down: number): Promise<{ url: string; refused: () => number }> {
  let refused = 0;
  const server = createServer(async (req, res) => {
    if (refused < down) {
      refused++;
      res.writeHead(503, { "content-type": "application/json" }).end('{"error":"starting"}');
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers = Object.fromEntries(
      Object.entries(req.headers).filter((e): e is [string, string] => typeof e[1] === "string" && e[0] !== "host"),
    );
    const answer = await fetch(`${worker.url}${req.url}`, {
      method: req.method,
      headers,
      body: chunks.length ? Buffer.concat(chunks) : undefined,
    });
    res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/json" });
    res.end(Buffer.from(await answer.arrayBuffer()));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, refused: () => refused };
}

describe("a registered bot started before the Worker answers", () => {
  it("learns its name, model and rooms once it does, then answers its mentions", async () => {
    const room = `late-${Date.now().toString(36)}`;
    const proxy = await flakyProxy(3);
    const { ollama, handle, logs } = await registeredBot("cy", "gamma", room, 1, 1, proxy.url);
    await logs.waitFor("[Bot] The token is bot @cy (model gamma)");
    expect(proxy.refused()).toBe(3);
    expect(handle.config).toMatchObject({ botId: "cy", model: "gamma", rooms: [room] });

    const asked = await client.post(room, "@cy are you up?");
    const reply = await waitFor(
      "cy's reply",
      async () => repliesByHuman(await client.comments(room)).get(asked.id)?.[0],
    );
    expect(reply.author).toBe("cy");
    expect(ollama.chats.map((c) => c.model)).toEqual(["gamma"]);
  });
});
