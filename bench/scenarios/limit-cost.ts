// What the post rate limit and the socket checks cost (target: ≤ 5 % of write
// throughput): the same writes against two Workers of the same code, one where loopback is
// exempt (RATE_LIMIT_EXEMPT, as every other scenario runs) and one where every send pays
// POST_LIMITER (and ROOM_LIMITER) and the per-client socket cap, with the limits raised so
// nothing is refused (a Wrangler config written next to wrangler.toml for the run). Both
// sides run at the same time, each with the full load, so whatever else the machine does
// falls on both alike (back-to-back runs on this shared machine differ by ±20 %); two rounds.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT, startLocalWorker } from "../../scripts/local-worker";
import { ChatClient } from "../lib/api";
import { measuredLoad } from "../lib/load";
import { socketLoad } from "../lib/socket-load";
import { mean, ratio, round } from "../lib/stats";
import { REFERENCE_CONFIG } from "./socket-writes";

/** cpuMsPerMessage: wrangler's and workerd's CPU per acknowledged write, mean of the runs (absent from older reports) */
export type LimitCostSide = { runs: number[]; perSecond: number; errors: number; cpuMsPerMessage?: number | null };
export type LimitCostRow = {
  path: "socket" | "http";
  what: string;
  exempt: LimitCostSide;
  limited: LimitCostSide;
  limitedOverExempt: number | null;
};
/**
 * limiterCall: server CPU of one call of the local (Miniflare) rate-limiting binding, alone: the
 * bare reference Worker's POST /api/limit minus its GET /api/health, per request (absent from older reports).
 */
export type LimiterCallCost = {
  healthCpuMs: number | null;
  limitCpuMs: number | null;
  cpuMsPerCall: number | null;
  error?: string;
};
export type LimitCostResult = { durationMs: number; rows: LimitCostRow[]; limiterCall?: LimiterCallCost };

export type LimitCostOptions = {
  runTag: string;
  durationMs: number;
  senders: number;
  listeners: number;
  concurrency: number;
  exemptPid?: number;
};

type Run = { perSecond: number; errors: number; cpuMsPerMessage: number | null };

const LIMITS_CONFIG = join(PROJECT_ROOT, ".bench-limits.wrangler.toml");
/** Far above any rate this machine reaches, so the limiter is asked on every send and never refuses. */
const NEVER_REACHED = 1_000_000_000;

/** Side-by-side rounds per write path. */
const ROUNDS = 2;

/** The limiters a write asks: per message, and per new room (every run writes into a fresh room). */
const WRITE_LIMITERS = ["POST_LIMITER", "ROOM_LIMITER"];

/** wrangler.toml with the write limiters' limits raised (their periods stay). */
export function limitsConfig(toml: string): string {
  return WRITE_LIMITERS.reduce((text, name) => {
    const raised = text.replace(
      new RegExp(`(name = "${name}"[^\\[]*?simple = \\{ limit = )\\d+`),
      `$1${NEVER_REACHED}`,
    );
    if (raised === text) throw new Error(`wrangler.toml: ${name}'s \`simple = { limit = N, … }\` not found`);
    return raised;
  }, toml);
}

const side = (runs: Run[]): LimitCostSide => {
  const cpu = runs.map((r) => r.cpuMsPerMessage);
  return {
    runs: runs.map((r) => round(r.perSecond, 1)!),
    perSecond: round(mean(runs.map((r) => r.perSecond)), 1)!,
    errors: runs.reduce((a, r) => a + r.errors, 0),
    cpuMsPerMessage: cpu.every((x) => x !== null) ? round(mean(cpu as number[]), 2) : null,
  };
};

/**
 * What one call of the local rate-limiting binding costs by itself: the bare reference
 * Worker answers GET /api/health (nothing) and POST /api/limit (one LIMITER.limit(), nothing else).
 */
async function limiterCallCost(concurrency: number, log: (line: string) => void): Promise<LimiterCallCost> {
  let worker: Awaited<ReturnType<typeof startLocalWorker>> | null = null;
  try {
    worker = await startLocalWorker({ config: REFERENCE_CONFIG });
    const pid = worker.process.pid;
    const measure = async (call: () => Promise<Response>) =>
      (await measuredLoad(call, { concurrency, durationMs: 3_000, serverPid: pid })).cpuMsPerCall;
    const base = worker.url;
    const healthCpuMs = await measure(() => fetch(`${base}/api/health`));
    const limitCpuMs = await measure(() => fetch(`${base}/api/limit`, { method: "POST" }));
    const cpuMsPerCall = healthCpuMs === null || limitCpuMs === null ? null : round(limitCpuMs - healthCpuMs, 2);
    log(
      `  one emulated limit() call: ${cpuMsPerCall ?? "—"} ms server CPU (reference Worker: POST /api/limit ${limitCpuMs ?? "—"} ms, GET /api/health ${healthCpuMs ?? "—"} ms per request)`,
    );
    return { healthCpuMs, limitCpuMs, cpuMsPerCall };
  } catch (err) {
    const error = (err as Error).message.split("\n")[0]!;
    log(`  one emulated limit() call: not measured (${error})`);
    return { healthCpuMs: null, limitCpuMs: null, cpuMsPerCall: null, error };
  } finally {
    await worker?.stop();
  }
}

export async function limitCostBench(
  exemptUrl: string,
  adminToken: string,
  options: LimitCostOptions,
  log: (line: string) => void,
): Promise<LimitCostResult> {
  writeFileSync(LIMITS_CONFIG, limitsConfig(readFileSync(join(PROJECT_ROOT, "wrangler.toml"), "utf8")));
  let limitedWorker: Awaited<ReturnType<typeof startLocalWorker>> | null = null;
  try {
    limitedWorker = await startLocalWorker({
      config: LIMITS_CONFIG,
      adminToken,
      // Nobody exempt; the per-client cap counted but above the load's 26 sockets from one
      // address, and the frame meter counting but above the closed-loop senders' rate.
      vars: {
        RATE_LIMIT_EXEMPT: "",
        ROOM_MAX_SOCKETS_PER_CLIENT: "1000",
        SOCKET_FRAME_RATE: "1000000",
        SOCKET_FRAME_BURST: "1000000",
      },
    });
    const urls = { exempt: exemptUrl, limited: limitedWorker.url };
    const pids = { exempt: options.exemptPid, limited: limitedWorker.process.pid };
    const sides = ["exempt", "limited"] as const;
    let run = 0;
    const room = async (which: keyof typeof urls) => {
      const name = `bench-${options.runTag}-limits-${run++}`;
      await new ChatClient(urls[which], { admin: adminToken }).setRoomMode(name, "do");
      return name;
    };
    type Runs = Record<keyof typeof urls, Run[]>;

    const socket: Runs = { exempt: [], limited: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const rooms = await Promise.all(sides.map(room));
      const results = await Promise.all(
        sides.map((which, i) =>
          socketLoad({
            socketUrl: new ChatClient(urls[which]).socketUrl(rooms[i]!),
            senders: options.senders,
            listeners: options.listeners,
            durationMs: options.durationMs,
            warmupMs: 1_000,
            waitMs: 5_000,
            serverPid: pids[which],
          }),
        ),
      );
      sides.forEach((which, i) => {
        const { result } = results[i]!;
        socket[which].push({
          perSecond: result.perSecond,
          errors: result.errors.total + result.missing,
          cpuMsPerMessage: result.serverCpuMsPerMessage,
        });
        log(
          `  socket ${which.padEnd(8)} ${result.perSecond.toFixed(0).padStart(5)} msgs/s   server CPU ${result.serverCpuMsPerMessage ?? "—"} ms/msg   ${result.errors.total} errors${result.firstError ? ` (${result.firstError})` : ""}`,
        );
      });
    }

    const http: Runs = { exempt: [], limited: [] };
    let n = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const rooms = await Promise.all(sides.map(room));
      const writes = sides.map(
        (which, i) => () =>
          fetch(`${urls[which]}/api/comments`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ room: rooms[i], text: `limit cost ${++n}`, author: "bench" }),
          }),
      );
      // Both sides warm up together, then are measured together.
      const results = await Promise.all(
        sides.map((which, i) =>
          measuredLoad(writes[i]!, {
            concurrency: options.concurrency,
            durationMs: options.durationMs,
            serverPid: pids[which],
          }),
        ),
      );
      sides.forEach((which, i) => {
        const { result, cpuMsPerCall: cpuMs } = results[i]!;
        http[which].push({ perSecond: result.perSecond, errors: result.errors, cpuMsPerMessage: cpuMs });
        log(
          `  http   ${which.padEnd(8)} ${result.perSecond.toFixed(0).padStart(5)} writes/s   server CPU ${cpuMs ?? "—"} ms/write   ${result.errors} errors${result.firstError ? ` (${result.firstError})` : ""}`,
        );
      });
    }

    const row = (path: LimitCostRow["path"], what: string, runs: Runs): LimitCostRow => {
      const exempt = side(runs.exempt);
      const limited = side(runs.limited);
      return { path, what, exempt, limited, limitedOverExempt: round(ratio(limited.perSecond, exempt.perSecond), 3) };
    };
    return {
      durationMs: options.durationMs,
      rows: [
        row(
          "socket",
          `socket sends into one do room, ${options.senders} senders × ${options.listeners} listeners`,
          socket,
        ),
        row("http", `POST /api/comments into one do room, ${options.concurrency} in flight`, http),
      ],
      limiterCall: await limiterCallCost(options.concurrency, log),
    };
  } finally {
    await limitedWorker?.stop();
    // wrangler watches its config: removed only once it has stopped.
    rmSync(LIMITS_CONFIG, { force: true });
  }
}
