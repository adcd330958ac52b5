// The fair bot, through the bot's own code against a real local Worker and the Ollama-protocol
// stub: under a flood from one sender (one address), another sender's single question is
// answered before the flood's tail, since senders take turns in the room's queue. The bot
// serves every room ("*") from GET /api/bot/rooms, one listing per poll. Asking again makes
// the bot answer once more, as a new version of the same reply.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalWorker, type LocalWorker } from "../../scripts/local-worker";
import { startBot, type BotHandle } from "../../bot";
import type { Message, MessageVersion } from "../../src/shared/message";
import { startOllamaStub, type OllamaStub } from "./support/ollama-stub";
import { LogCapture, TestClient, tempStateFile, waitFor } from "./support/bot-harness";
import { requestFrom } from "./support/bound-client";

const FLOODER = "127.0.0.2";
const NEIGHBOUR = "127.0.0.3";
const EDIT_KEY = "neighbours-own-edit-key-0123";

let worker: LocalWorker;
let client: TestClient;
let ollama: OllamaStub | undefined;
let bot: BotHandle | undefined;

beforeAll(async () => {
  worker = await startLocalWorker({ vars: { CACHE_MODE: "do" } });
  client = new TestClient(worker.url, worker.adminToken);
});

afterAll(async () => {
  await bot?.stop();
  await ollama?.stop();
  await worker?.stop();
});

async function postFrom(address: string, room: string, text: string, extra: Record<string, unknown> = {}) {
  const res = await requestFrom(address, `${worker.url}/api/comments`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ room, text, author: address, ...extra }),
  });
  expect(res.status, res.body).toBe(201);
  return JSON.parse(res.body) as Message;
}

describe("the fair bot", () => {
  it("answers another sender's single question before a flood's tail, and answers again when asked", async () => {
    const room = "fair-flood";
    const flood: Message[] = [];
    for (let i = 0; i < 4; i++) flood.push(await postFrom(FLOODER, room, `flood ${i}`));
    const single = await postFrom(NEIGHBOUR, room, "just one question", { editKey: EDIT_KEY });

    ollama = await startOllamaStub({ tokenDelayMs: 5 });
    const logs = new LogCapture();
    bot = await startBot({
      apiUrl: worker.url,
      token: worker.botToken,
      pollMs: 100,
      stateFile: tempStateFile(),
      log: logs.log,
      ollamaHost: ollama.url,
      rooms: "*",
    });
    const answered = await waitFor("every question answered", async () => {
      const messages = await client.comments(room);
      const humans = messages.filter((m) => m.kind === "human");
      return humans.length === 5 && humans.every((m) => m.status === "complete") && messages;
    });
    expect(answered.filter((m) => m.kind === "ai")).toHaveLength(5);
    // The order the model was asked in: the flood's first, then the neighbour, then the rest.
    const asked = ollama.chats.map((chat) => chat.messages.at(-1)!.content);
    const order = asked.map((content) => [...flood, single].find((m) => content.includes(m.text))!.text);
    expect(order).toEqual(["flood 0", "just one question", "flood 1", "flood 2", "flood 3"]);

    // Asking again: the same reply gets a second version, the first kept.
    const reply = answered.find((m) => m.kind === "ai" && m.replyTo === single.id)!;
    const again = await requestFrom(NEIGHBOUR, `${worker.url}/api/comments/${single.id}/regenerate`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ room, requestId: "ask-again-1", editKey: EDIT_KEY }),
    });
    expect(again.status, again.body).toBe(200);
    const renewed = await waitFor("the second answer", async () => {
      const messages = await client.comments(room);
      const current = messages.find((m) => m.id === reply.id);
      return current?.version === 2 && messages.find((m) => m.id === single.id)?.status === "complete" && current;
    });
    expect(renewed.text).toBe(reply.text);
    expect(ollama.chats).toHaveLength(6);
    const versions = await fetch(`${worker.url}/api/comments/${reply.id}/versions?room=${room}`);
    const body = (await versions.json()) as { versions: MessageVersion[] };
    expect(body.versions.map((v) => v.text)).toEqual([reply.text]);
    expect((await client.comments(room)).filter((m) => m.kind === "ai")).toHaveLength(5);
  });
});
