// Time until another client sees a message: WebSocket push (do), polling on the
// page's 5–7 s cadence (do and kv). Measured from the moment the POST is sent.
import { newMessageId, type PathMode } from "../../src/shared/message";
import { ChatClient } from "../lib/api";
import { RoomSocket } from "../lib/live";
import { summarize, type Percentiles } from "../lib/stats";
import { jitter, now, sleep } from "../lib/time";

export type VisibilityResult = {
  push: { mode: "do"; messages: number; seen: number; timeToVisibleMs: Percentiles; ackMs: Percentiles };
  polling: { mode: PathMode; pollMs: [number, number]; messages: number; seen: number; timeToVisibleMs: Percentiles }[];
};

export type VisibilityOptions = {
  runTag: string;
  pushMessages: number;
  pollWindowMs: number;
  postEveryMs: number;
  pollMs: [number, number];
};

async function pushLatency(url: string, admin: ChatClient, options: VisibilityOptions) {
  const room = `bench-${options.runTag}-push`;
  await admin.setRoomMode(room, "do");
  const client = new ChatClient(url);
  await client.post(room, "wake the room", "bench");
  const sentAt = new Map<string, number>();
  const visible: number[] = [];
  const socket = new RoomSocket(client.socketUrl(room), (frame, receivedAt) => {
    if (frame.type !== "message") return;
    const sent = sentAt.get(frame.message.id);
    if (sent !== undefined) visible.push(receivedAt - sent);
  });
  socket.start();
  if (!(await socket.opened(10_000))) throw new Error("the push room's WebSocket did not open");
  const acks: number[] = [];
  try {
    for (let i = 0; i < options.pushMessages; i++) {
      const id = newMessageId();
      const start = now();
      sentAt.set(id, start);
      await client.post(room, `push ${i}`, "bench", id);
      acks.push(now() - start);
      await sleep(10);
    }
    await sleep(500);
  } finally {
    socket.stop();
  }
  return {
    mode: "do" as const,
    messages: options.pushMessages,
    seen: visible.length,
    timeToVisibleMs: summarize(visible),
    ackMs: summarize(acks),
  };
}

/** A sender posts steadily; a receiver polls like the page and notes when each message first shows up. */
async function pollingLatency(url: string, admin: ChatClient, mode: PathMode, options: VisibilityOptions) {
  const room = `bench-${options.runTag}-poll-${mode}`;
  await admin.setRoomMode(room, mode);
  const sender = new ChatClient(url);
  const receiver = new ChatClient(url);
  const sentAt = new Map<string, number>();
  const visible = new Map<string, number>();
  let sending = true;
  let stoppedAt = Infinity;
  const receive = async () => {
    await sleep(jitter(...options.pollMs));
    // Keep polling until the sender is done and everything it sent was seen (bounded).
    const giveUpAt = () => (sending ? Infinity : stoppedAt + 2 * options.pollMs[1]);
    while (now() < giveUpAt() && (sending || visible.size < sentAt.size)) {
      const listing = await receiver.list(room, 50);
      for (const m of listing.comments) {
        const sent = sentAt.get(m.id);
        if (sent !== undefined && !visible.has(m.id)) visible.set(m.id, listing.receivedAt - sent);
      }
      await sleep(jitter(...options.pollMs));
    }
  };
  const receiving = receive();
  const end = now() + options.pollWindowMs;
  for (let i = 0; now() < end; i++) {
    const id = newMessageId();
    sentAt.set(id, now());
    await sender.post(room, `poll ${mode} ${i}`, "bench", id);
    await sleep(options.postEveryMs);
  }
  sending = false;
  stoppedAt = now();
  await receiving;
  return {
    mode,
    pollMs: options.pollMs,
    messages: sentAt.size,
    seen: visible.size,
    timeToVisibleMs: summarize([...visible.values()]),
  };
}

export async function visibilityBench(
  url: string,
  adminToken: string,
  options: VisibilityOptions,
  log: (line: string) => void,
): Promise<VisibilityResult> {
  const admin = new ChatClient(url, { admin: adminToken });
  const push = await pushLatency(url, admin, options);
  log(
    `  push (do)          ${push.seen}/${push.messages} seen   p50 ${push.timeToVisibleMs.p50.toFixed(1)} ms   p99 ${push.timeToVisibleMs.p99.toFixed(1)} ms`,
  );
  // Both polling runs at once: they are light (a few posts a second) and each takes a few poll intervals.
  const polling = await Promise.all((["do", "kv"] as const).map((mode) => pollingLatency(url, admin, mode, options)));
  for (const p of polling) {
    log(
      `  polling (${p.mode})       ${p.seen}/${p.messages} seen   p50 ${p.timeToVisibleMs.p50.toFixed(0)} ms   p99 ${p.timeToVisibleMs.p99.toFixed(0)} ms`,
    );
  }
  return { push, polling };
}
