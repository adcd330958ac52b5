// Latency under a steady offered load: first the bare reference room's capacity (closed-loop
// socket writes, as the socket scenario), then fixed loads at fractions of it and at a fixed
// rate, offered on schedule (bench/lib/open-loop.ts) to ours (a do room) and to the
// reference, each in a fresh room, in rounds; the order alternates by load and round so drift
// falls on both, and each round's pair gives one ratio of p99s.
import { startLocalWorker, type LocalWorker } from "../../scripts/local-worker";
import { ChatClient } from "../lib/api";
import { openLoopLoad, type OpenLoopResult } from "../lib/open-loop";
import { socketLoad } from "../lib/socket-load";
import { waitUntilIdle } from "../lib/proc-cpu";
import { sleep } from "../lib/time";
import { mean, pairedRatios, round, type RatioSpread } from "../lib/stats";
import { REFERENCE_CONFIG } from "./socket-writes";

export type OpenLoopLoad = {
  /** "25 %" of the reference's capacity, or "200 msgs/s" */
  name: string;
  /** the fraction of capacity, or null for a fixed rate */
  fraction: number | null;
  ratePerSecond: number;
  /** one run of each room per round, back to back */
  rounds: { ours: OpenLoopResult; reference: OpenLoopResult }[];
  /** ours / reference p99, round by round (a p99 that fell on a missing message leaves the load without one) */
  p99Ratio: RatioSpread;
};

export type OpenLoopBenchResult = {
  senders: number;
  listeners: number;
  warmupMs: number;
  durationMs: number;
  graceMs: number;
  /** the reference room's closed-loop msgs/s: the mean of capacityRuns, measured right before the loads */
  referenceCapacity: number;
  capacityRuns?: number[];
  capacityMs: number;
  loads: OpenLoopLoad[];
};

export type OpenLoopBenchOptions = {
  runTag: string;
  senders: number;
  listeners: number;
  fractions: number[];
  fixedRates: number[];
  durationMs: number;
  capacityMs: number;
  /** runs of each room per load */
  rounds: number;
  serverPid?: number;
};

const WARMUP_MS = 2_000;
const GRACE_MS = 5_000;
/**
 * workerd evicts a Durable Object about 10 s after its last event, on the one thread that runs every
 * object of a local Worker: a stall of tens of ms for whatever room is loaded then. So each run's room
 * is made first (ours: its flag and a first message, which wake the Control object and a registry shard;
 * the reference: a first message) and the run starts this long after, when those objects and the previous
 * run's room are gone. Deployed, they run in other isolates and never stall a room.
 */
export const EVICTION_SETTLE_MS = 12_000;

/**
 * A room past its capacity still works through its backlog after the run ends: the next run
 * waits until each server uses less than a fifth of a core (half a second at a time), 15 s at most.
 */
export async function waitUntilQuiet(pids: (number | undefined)[]): Promise<void> {
  await waitUntilIdle(pids, { msPerSecond: 200, windowMs: 500, maxWaitMs: 15_000 });
}

const ms = (v: number | null) => (v === null ? "—" : v.toFixed(1));
const line = (side: string, r: OpenLoopResult) =>
  `    ${side.padEnd(9)} p50 ${ms(r.latencyMs.p50)} ms   p99 ${ms(r.latencyMs.p99)} ms   p99.9 ${ms(r.latencyMs.p999)} ms` +
  `   ${r.acked}/${r.scheduled} acked   ${r.missing} missing   send lag p99 ${ms(r.sendLagMs.p99)} ms` +
  `   server CPU ${r.serverCpuMsPerMessage ?? "—"} ms/msg${r.firstError ? `   (${r.firstError})` : ""}`;

export async function openLoopBench(
  url: string,
  adminToken: string,
  options: OpenLoopBenchOptions,
  log: (line: string) => void,
): Promise<OpenLoopBenchResult> {
  const admin = new ChatClient(url, { admin: adminToken });
  let reference: LocalWorker | null = null;
  try {
    reference = await startLocalWorker({ config: REFERENCE_CONFIG });
    const referenceClient = new ChatClient(reference.url);
    let n = 0;
    const referenceRoom = () => referenceClient.socketUrl(`bench-${options.runTag}-open-ref-${++n}`);
    /** A room made ahead of its run, written once, and the wait for what that woke to be evicted. */
    const settledRoom = async (side: "ours" | "reference") => {
      const client = side === "ours" ? admin : referenceClient;
      const room = `bench-${options.runTag}-open-${side === "ours" ? "" : "ref-"}${++n}`;
      if (side === "ours") await admin.setRoomMode(room, "do");
      await client.post(room, "the room's first message", "bench");
      await sleep(EVICTION_SETTLE_MS);
      return client.socketUrl(room);
    };

    const referencePid = reference.process.pid;
    const closedLoop = async (durationMs: number) =>
      (
        await socketLoad({
          socketUrl: referenceRoom(),
          senders: options.senders,
          listeners: options.listeners,
          durationMs,
          warmupMs: 1_000,
          waitMs: 5_000,
          serverPid: referencePid,
        })
      ).result.perSecond;
    // The capacity the loads are fractions of is this Worker's, now: a first run warms it up (not
    // counted), then two runs. Runs of other scenarios met another Worker at another moment.
    await closedLoop(options.capacityMs / 2);
    const capacityRuns = [await closedLoop(options.capacityMs), await closedLoop(options.capacityMs)];
    const capacity = mean(capacityRuns)!;
    log(
      `  reference capacity (closed loop): ${capacity.toFixed(0)} msgs/s, the mean of ` +
        `${capacityRuns.map((r) => r.toFixed(0)).join(" and ")} (after a warm-up run)`,
    );
    if (!(capacity > 0)) throw new Error("the reference room carried no messages: no capacity to offer fractions of");

    const plan = [
      ...options.fractions.map((f) => ({
        name: `${Math.round(f * 100)} %`,
        fraction: f,
        ratePerSecond: round(f * capacity, 1)!,
      })),
      ...options.fixedRates.map((r) => ({ name: `${r} msgs/s`, fraction: null, ratePerSecond: r })),
    ];
    const loads: OpenLoopLoad[] = [];
    for (const [i, step] of plan.entries()) {
      const run = async (side: "ours" | "reference") =>
        openLoopLoad({
          socketUrl: await settledRoom(side),
          senders: options.senders,
          listeners: options.listeners,
          ratePerSecond: step.ratePerSecond,
          warmupMs: WARMUP_MS,
          durationMs: options.durationMs,
          graceMs: GRACE_MS,
          serverPid: side === "ours" ? options.serverPid : reference!.process.pid,
        });
      log(`  ${step.name} (${step.ratePerSecond} msgs/s offered):`);
      const rounds: OpenLoopLoad["rounds"] = [];
      for (let r = 0; r < options.rounds; r++) {
        const results: Partial<Record<"ours" | "reference", OpenLoopResult>> = {};
        for (const side of (i + r) % 2 === 0 ? (["reference", "ours"] as const) : (["ours", "reference"] as const)) {
          await waitUntilQuiet([options.serverPid, reference!.process.pid]);
          results[side] = await run(side);
          log(line(side, results[side]));
        }
        rounds.push({ ours: results.ours!, reference: results.reference! });
      }
      // A p99 that fell on a missing message has no number: then the load has no ratio (pairedRatios needs every pair).
      const p99s = (side: "ours" | "reference") => rounds.map((x) => x[side].latencyMs.p99 ?? Number.NaN);
      const p99Ratio = pairedRatios(p99s("ours"), p99s("reference"));
      loads.push({ ...step, rounds, p99Ratio });
    }
    return {
      senders: options.senders,
      listeners: options.listeners,
      warmupMs: WARMUP_MS,
      durationMs: options.durationMs,
      graceMs: GRACE_MS,
      referenceCapacity: round(capacity, 1)!,
      capacityRuns: capacityRuns.map((x) => round(x, 1)!),
      capacityMs: options.capacityMs,
      loads,
    };
  } finally {
    await reference?.stop();
  }
}
