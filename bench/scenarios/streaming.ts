// Streaming replies (do room): the real bot (in this process) answers human messages
// with the Ollama-protocol stub writing a token every few ms; listeners on the room's
// socket fold what they receive as the page does (src/shared/stream.ts). Measured: the
// model's first token → the first text at each listening socket, the room's storage
// writes and pushes per streamed reply (its own counters), and whether every listener
// ended with exactly the reply's text (no gap, no repeat).
import { spokenText } from "../../bot/prompt";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requestJson } from "../../src/client/http";
import { newMessageId } from "../../src/shared/message";
import { StreamView, type StreamStats } from "../../src/shared/stream";
import { startBot } from "../../bot";
import { startOllamaStub } from "../../test/node/support/ollama-stub";
import { ChatClient } from "../lib/api";
import { RoomSocket } from "../lib/live";
import { summarize, type Percentiles } from "../lib/stats";
import { now, sleep } from "../lib/time";

export type StreamingResult = {
  replies: number;
  listeners: number;
  tokensPerReply: number;
  tokenDelayMs: number;
  /** wall clock, same process: the stub writing its first token → a listener holding the first text */
  firstTokenToSocketMs: Percentiles;
  /** the room's counters (GET /api/admin/rooms/<room>), divided by the replies */
  storageWritesPerReply: number;
  pushesPerReply: number;
  /** stream frames one listener received per reply */
  framesPerReplyPerListener: number;
  /** listener × reply pairs whose streamed text was not a prefix of the final reply, or frames that found a gap */
  mismatches: number;
  gaps: number;
};

export type StreamingOptions = {
  runTag: string;
  replies: number;
  listeners: number;
  tokens: number;
  tokenDelayMs: number;
  botToken: string;
  adminToken: string;
};

async function roomStreams(url: string, adminToken: string, room: string): Promise<StreamStats> {
  const { body } = await requestJson<{ streams: StreamStats }>(`${url}/api/admin/rooms/${encodeURIComponent(room)}`, {
    token: adminToken,
    timeoutMs: 10_000,
  });
  return body.streams;
}

export async function streamingBench(
  url: string,
  options: StreamingOptions,
  log: (line: string) => void,
): Promise<StreamingResult> {
  const room = `bench-${options.runTag}-stream`;
  const admin = new ChatClient(url, { admin: options.adminToken });
  await admin.setRoomMode(room, "do");
  const words = Array.from({ length: options.tokens }, (_, i) => `word${i}`).join(" ");
  const stub = await startOllamaStub({ reply: () => words, tokenDelayMs: options.tokenDelayMs });
  const listeners = Array.from({ length: options.listeners }, () => ({
    view: new StreamView(),
    frames: 0,
    firstText: new Map<string, number>(),
    finalText: new Map<string, string>(),
  }));
  const sockets = listeners.map(
    (listener) =>
      new RoomSocket(new ChatClient(url).socketUrl(room), (frame, receivedAt) => {
        if (frame.type === "hello") listener.view.reset(frame.streams);
        if (frame.type === "stream") {
          listener.frames++;
          listener.view.apply(frame);
          const text = listener.view.get(frame.id)?.text ?? "";
          if (text && !listener.firstText.has(frame.replyTo)) listener.firstText.set(frame.replyTo, receivedAt);
          listener.finalText.set(frame.replyTo, text);
        }
        if (frame.type === "message") listener.view.settle(frame.message);
      }),
  );
  const client = new ChatClient(url);
  await client.post(room, "wake the room", "bench", newMessageId());
  for (const socket of sockets) socket.start();
  const stateDir = mkdtempSync(join(tmpdir(), "lossless-chat-stream-bench-"));
  const bot = await startBot({
    apiUrl: url,
    token: options.botToken,
    rooms: [room],
    botId: `bench-streamer-${options.runTag}`,
    ollamaHost: stub.url,
    pollMs: 100,
    stateFile: join(stateDir, "bot-state.json"),
    log: () => undefined,
  });
  try {
    for (const socket of sockets)
      if (!(await socket.opened(10_000))) throw new Error("a listener's WebSocket did not open");
    const before = await roomStreams(url, options.adminToken, room);
    const humans: string[] = [];
    let mismatches = 0;
    for (let i = 0; i < options.replies; i++) {
      const human = await client.post(room, `question ${i}`, "bench", newMessageId());
      humans.push(human.id);
      // One reply at a time, so the stub's i-th first token belongs to the i-th message.
      const deadline = now() + 30_000 + options.tokens * options.tokenDelayMs;
      for (;;) {
        const listing = await client.list(room, 5);
        if (listing.comments.some((m) => m.kind === "ai" && m.replyTo === human.id)) break;
        if (now() > deadline) throw new Error(`no reply to ${human.id} within the deadline`);
        await sleep(50);
      }
    }
    await sleep(200);
    const after = await roomStreams(url, options.adminToken, room);
    const latencies: number[] = [];
    humans.forEach((id, i) => {
      // The stub's chats run one at a time, so its k-th first token is the k-th chat's; find the chat of question i.
      const chat = stub.chats.findIndex(
        (c) => spokenText({ role: "user", content: c.messages.at(-1)?.content ?? "" }) === `question ${i}`,
      );
      const firstToken = stub.firstTokenAt[chat];
      for (const listener of listeners) {
        const seen = listener.firstText.get(id);
        if (firstToken !== undefined && seen !== undefined) latencies.push(seen - firstToken);
        // What a listener held last of the stream is a prefix of the reply (the reply itself replaces it).
        if (!words.startsWith((listener.finalText.get(id) ?? "").trim())) mismatches++;
      }
    });
    const replies = humans.length;
    const result: StreamingResult = {
      replies,
      listeners: options.listeners,
      tokensPerReply: options.tokens,
      tokenDelayMs: options.tokenDelayMs,
      firstTokenToSocketMs: summarize(latencies),
      storageWritesPerReply: (after.writes - before.writes) / replies,
      pushesPerReply: (after.pushes - before.pushes) / replies,
      framesPerReplyPerListener: listeners.reduce((sum, l) => sum + l.frames, 0) / listeners.length / replies,
      mismatches,
      gaps: listeners.reduce((sum, l) => sum + l.view.gaps, 0),
    };
    log(
      `  ${replies} replies of ${options.tokens} tokens (${options.tokenDelayMs} ms apart), ${options.listeners} listeners: first token → socket p50 ${result.firstTokenToSocketMs.p50.toFixed(1)} ms, p99 ${result.firstTokenToSocketMs.p99.toFixed(1)} ms; ${result.storageWritesPerReply.toFixed(1)} storage writes and ${result.pushesPerReply.toFixed(1)} pushes per reply`,
    );
    return result;
  } finally {
    for (const socket of sockets) socket.stop();
    await bot.stop();
    await stub.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}
