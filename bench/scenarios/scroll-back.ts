// Scroll-back page latency: `GET /api/comments?before=<seq>&limit=50` at positions spread over
// the whole log of the history rooms (history.ts seeds them), short history against long.
// A page is a range on the log's rowid, so its cost should not grow with the log.
import type { BenchWorker } from "../lib/bench-worker";
import { ratio, round, summarize, type Percentiles } from "../lib/stats";
import type { CommentsResponse } from "../../src/shared/api";
import type { SeededHistories } from "./history";

export type ScrollBackRoom = { messages: number; room: string; pageLatencyMs: Percentiles };

export type ScrollBackResult = {
  pageSize: number;
  samples: number;
  rooms: ScrollBackRoom[];
  /** p50 and p99 of the longest history over the shortest */
  ratio: { p50: number | null; p99: number | null };
};

/** A fixed xorshift sequence: every run reads the same positions. */
function positions(seed: number): () => number {
  let x = seed || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

export async function scrollBackBench(
  worker: BenchWorker,
  seeded: SeededHistories,
  options: { samples: number; pageSize: number },
  log: (line: string) => void,
): Promise<ScrollBackResult> {
  const { pageSize, samples } = options;
  const next = new Map(seeded.rooms.map((r) => [r.room, positions(r.messages)]));
  const latencies = new Map<string, number[]>(seeded.rooms.map((r) => [r.room, []]));
  const page = async (r: SeededHistories["rooms"][number]) => {
    // Anywhere from the newest page back to the one just after the first: a full page, with more before it.
    const before = pageSize + 2 + Math.floor(next.get(r.room)!() * (r.messages - pageSize - 1));
    const started = performance.now();
    const res = await fetch(`${worker.url}/api/comments?room=${r.room}&before=${before}&limit=${pageSize}`);
    const body = (await res.json()) as CommentsResponse;
    const ms = performance.now() - started;
    const last = body.comments?.at(-1)?.seq;
    if (!res.ok || body.comments.length !== pageSize || last !== before - 1 || body.more !== true) {
      throw new Error(
        `${r.room} before=${before} answered ${res.status}: ${body.comments?.length} messages ending at seq ${last}, more ${body.more}`,
      );
    }
    return ms;
  };
  // Warm both rooms up, then alternate so drift on a shared machine hits both alike.
  for (let i = 0; i < 20; i++) for (const r of seeded.rooms) await page(r);
  for (let i = 0; i < samples; i++) for (const r of seeded.rooms) latencies.get(r.room)!.push(await page(r));

  const rooms = seeded.rooms.map((r) => ({
    messages: r.messages,
    room: r.room,
    pageLatencyMs: summarize(latencies.get(r.room)!),
  }));
  for (const r of rooms) {
    log(
      `  scroll-back page of ${pageSize}, ${String(r.messages).padStart(6)} messages: p50 ${r.pageLatencyMs.p50.toFixed(1)} ms   p99 ${r.pageLatencyMs.p99.toFixed(1)} ms`,
    );
  }
  const small = rooms[0]!;
  const big = rooms[rooms.length - 1]!;
  const result: ScrollBackResult = {
    pageSize,
    samples,
    rooms,
    ratio: {
      p50: round(ratio(big.pageLatencyMs.p50, small.pageLatencyMs.p50), 3),
      p99: round(ratio(big.pageLatencyMs.p99, small.pageLatencyMs.p99), 3),
    },
  };
  log(
    `  ${big.messages} over ${small.messages} messages: p50 ${result.ratio.p50 ?? "—"} ×, p99 ${result.ratio.p99 ?? "—"} × (target ≤ 1.2 ×)`,
  );
  return result;
}
