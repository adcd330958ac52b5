// `GET /api/comments?limit=200` latency in do mode with a short and a long room
// history (the scroll-back pages of the same rooms: scroll-back.ts). The short history is posted through the API; the long one too when that
// fits the time budget, else written straight into the stopped Room DO's SQLite
// (see lib/seed-sqlite.ts), and the report says which route was taken and why.
import { ChatClient } from "../lib/api";
import type { BenchWorker } from "../lib/bench-worker";
import { mapLimit } from "../lib/load";
import { appendHistory, roomDatabaseFile } from "../lib/seed-sqlite";
import { ratio, round, summarize, type Percentiles } from "../lib/stats";

export type SeedRoute = "http" | "sqlite";

export type HistoryRoom = {
  messages: number;
  room: string;
  seed: { route: SeedRoute; seconds: number; perSecond: number };
  lastSeq: number;
  getLatencyMs: Percentiles;
};

export type HistoryResult = {
  rooms: HistoryRoom[];
  /** the API's seeding rate, measured on the short history, and what the long one would take that way */
  httpSeedPerSecond: number;
  projectedHttpSeconds: Record<string, number | null>;
  /** p50 and p99 of the longest history over the shortest */
  ratio: { p50: number | null; p99: number | null };
  samples: number;
};

export type HistoryOptions = {
  runTag: string;
  sizes: number[];
  seed: "auto" | SeedRoute;
  httpBudgetMs: number;
  concurrency: number;
};

async function seedHttp(client: ChatClient, room: string, count: number, concurrency: number): Promise<number> {
  const started = performance.now();
  await mapLimit(
    Array.from({ length: count }, (_, i) => i),
    concurrency,
    async (i) => {
      await client.post(room, `history message ${i}`, `person ${i % 17}`);
    },
  );
  return (performance.now() - started) / 1000;
}

/** Rooms with the requested histories (do mode), read by a freshly restarted Worker. */
export type SeededHistories = {
  rooms: Omit<HistoryRoom, "lastSeq" | "getLatencyMs">[];
  sizes: number[];
  httpRate: number;
};

/**
 * Seeds one do room per size: through the API while that fits the budget, else straight into
 * the stopped Room DO's SQLite; then restarts the Worker so every room is read alike.
 */
export async function seedHistories(
  worker: BenchWorker,
  options: HistoryOptions,
  log: (line: string) => void,
): Promise<SeededHistories> {
  const sizes = [...options.sizes].sort((a, b) => a - b);
  const admin = new ChatClient(worker.url, { admin: worker.adminToken });
  const rooms: Omit<HistoryRoom, "lastSeq" | "getLatencyMs">[] = [];
  const direct: { room: string; count: number }[] = [];
  let httpRate = 0;

  for (const size of sizes) {
    const room = `bench-${options.runTag}-history-${size}`;
    await admin.setRoomMode(room, "do");
    const projectedSeconds = httpRate ? size / httpRate : 0;
    const viaHttp =
      options.seed === "http" ||
      (options.seed === "auto" && (httpRate === 0 || projectedSeconds * 1000 <= options.httpBudgetMs));
    if (viaHttp) {
      const seconds = await seedHttp(admin, room, size, options.concurrency);
      httpRate = httpRate || size / seconds;
      rooms.push({
        messages: size,
        room,
        seed: { route: "http", seconds: round(seconds, 1)!, perSecond: round(size / seconds, 0)! },
      });
      log(
        `  seeded ${size} messages through the API in ${seconds.toFixed(1)} s (${(size / seconds).toFixed(0)}/s, ${options.concurrency} in flight)`,
      );
    } else {
      // One real post creates the room's Durable Object (schema, meta); the rest go straight to its SQLite.
      await admin.post(room, "history starts here", "bench");
      direct.push({ room, count: size - 1 });
      rooms.push({ messages: size, room, seed: { route: "sqlite", seconds: 0, perSecond: 0 } });
      log(
        `  ${size} messages through the API would take ~${Math.round(projectedSeconds)} s at ${httpRate.toFixed(0)}/s: writing them into the Room DO's SQLite instead`,
      );
    }
  }

  // Restart in every case, so both histories are read by the same fresh Worker.
  await worker.restart(() => {
    for (const { room, count } of direct) {
      const started = performance.now();
      appendHistory(roomDatabaseFile(worker.persistTo, room), count);
      const seconds = (performance.now() - started) / 1000;
      const entry = rooms.find((r) => r.room === room)!;
      entry.seed = { route: "sqlite", seconds: round(seconds, 1)!, perSecond: round(count / seconds, 0)! };
      log(`  wrote ${count} rows into ${room}'s SQLite in ${seconds.toFixed(1)} s`);
    }
  });
  return { rooms, sizes, httpRate };
}

/** `GET /api/comments?limit=200` latency in each seeded room, alternating rooms. */
export async function historyBench(
  worker: BenchWorker,
  seeded: SeededHistories,
  samples: number,
  log: (line: string) => void,
): Promise<HistoryResult> {
  const { rooms, sizes, httpRate } = seeded;

  const latencies = new Map<string, number[]>(rooms.map((r) => [r.room, []]));
  const lastSeq = new Map<string, number>();
  const get = async (r: (typeof rooms)[number]) => {
    const started = performance.now();
    const res = await fetch(`${worker.url}/api/comments?room=${r.room}&limit=200`);
    const body = (await res.json()) as { comments: unknown[]; lastSeq?: number };
    const ms = performance.now() - started;
    const expected = Math.min(200, r.messages);
    if (!res.ok || body.comments.length !== expected)
      throw new Error(`${r.room} answered ${res.status} with ${body.comments?.length} messages, expected ${expected}`);
    lastSeq.set(r.room, body.lastSeq ?? 0);
    return ms;
  };
  // Warm both rooms up, then alternate so drift on a shared machine hits both alike.
  for (let i = 0; i < 20; i++) for (const r of rooms) await get(r);
  for (let i = 0; i < samples; i++) for (const r of rooms) latencies.get(r.room)!.push(await get(r));

  const results: HistoryRoom[] = rooms.map((r) => ({
    ...r,
    lastSeq: lastSeq.get(r.room) ?? 0,
    getLatencyMs: summarize(latencies.get(r.room)!),
  }));
  for (const r of results) {
    log(
      `  GET recent(200), ${String(r.messages).padStart(6)} messages (lastSeq ${r.lastSeq}): p50 ${r.getLatencyMs.p50.toFixed(1)} ms   p99 ${r.getLatencyMs.p99.toFixed(1)} ms`,
    );
  }
  const projected = Object.fromEntries(
    sizes.map((size) => [String(size), httpRate ? round(size / httpRate, 0) : null]),
  );
  const small = results[0]!;
  const big = results[results.length - 1]!;
  return {
    rooms: results,
    httpSeedPerSecond: round(httpRate, 0) ?? 0,
    projectedHttpSeconds: projected,
    ratio: {
      p50: round(ratio(big.getLatencyMs.p50, small.getLatencyMs.p50), 3),
      p99: round(ratio(big.getLatencyMs.p99, small.getLatencyMs.p99), 3),
    },
    samples,
  };
}
