// Socket writes into one do room: closed-loop senders over WebSockets, every message
// waited for at all listeners. The same load runs against the bare reference room
// (bench/reference, its own wrangler dev and fresh state) in the same run, so
// ours/reference compares designs on this machine as it is today, in msgs/s and in server
// CPU per message, each with the spread of its paired runs. Then the outbox of our room:
// record lag, and every acknowledged id read back from KV once the outbox drained.
import { join } from "node:path";
import { PROJECT_ROOT, startLocalWorker, type LocalWorker } from "../../scripts/local-worker";
import { ChatClient } from "../lib/api";
import { socketLoad, type SocketLoadOptions, type SocketLoadResult } from "../lib/socket-load";
import { pairedRatios, round, type RatioSpread } from "../lib/stats";
import { outboxRecords, type OutboxResult } from "./outbox-records";

export const REFERENCE_CONFIG = join(PROJECT_ROOT, "bench", "reference", "wrangler.toml");

export type SocketWritesResult = {
  senders: number;
  listeners: number;
  durationMs: number;
  warmupMs: number;
  ours: SocketLoadResult;
  /** null when the reference room could not be started or driven; see referenceError */
  reference: SocketLoadResult | null;
  referenceError?: string;
  /**
   * msgs/s of every run, rounds of reference, ours, ours, reference; cpuOurs and cpuReference:
   * server CPU ms per message of the same runs (absent from older reports)
   */
  runs?: { ours: number[]; reference: number[]; cpuOurs?: (number | null)[]; cpuReference?: (number | null)[] };
  /** ours / reference: msgs/s and server CPU per message, of the means and of each pair of neighbouring runs */
  ratios: { oursOverReference: number | null; throughput?: RatioSpread; cpu?: RatioSpread };
  outbox: OutboxResult;
};

export type SocketWritesOptions = {
  runTag: string;
  senders: number;
  listeners: number;
  durationMs: number;
  rounds: number;
  warmupMs: number;
  serverPid?: number;
};

const line = (name: string, r: SocketLoadResult) =>
  `  ${name.padEnd(10)} ${r.perSecond.toFixed(0).padStart(5)} msgs/s   visible p50 ${r.visibleMs.p50.toFixed(1)} ms   p99 ${r.visibleMs.p99.toFixed(1)} ms` +
  `   ${r.acked}/${r.sent} acked   ${r.missing} missing   ${r.errors.total} errors` +
  `   CPU ms/message: server ${r.serverCpuMsPerMessage ?? "—"}, load generator ${r.clientCpuMsPerMessage}${r.firstError ? `   (${r.firstError})` : ""}`;

export async function socketWritesBench(
  url: string,
  adminToken: string,
  options: SocketWritesOptions,
  log: (line: string) => void,
): Promise<SocketWritesResult> {
  const load = (socketUrl: string, serverPid: number | undefined): SocketLoadOptions => ({
    socketUrl,
    senders: options.senders,
    listeners: options.listeners,
    durationMs: options.durationMs,
    warmupMs: options.warmupMs,
    waitMs: 5_000,
    serverPid,
  });

  // Runs go reference, ours, ours, reference: drift over the scenario falls on both sides alike,
  // and the ratio is of the two means. The reference keeps one Worker for all its runs, as ours
  // does (idle between its runs), so neither side's counted runs pay a start.
  // (Typed by a cast: a plain null would narrow it to null where only the closure assigns it.)
  let referenceWorker = null as Promise<LocalWorker> | null;
  const referenceRun = async (round: number, note = ""): Promise<SocketLoadResult | null> => {
    try {
      const worker = await (referenceWorker ??= startLocalWorker({ config: REFERENCE_CONFIG }));
      const room = `bench-${options.runTag}-socket-ref-${round}`;
      const result = (await socketLoad(load(new ChatClient(worker.url).socketUrl(room), worker.process.pid))).result;
      log(line("reference", result) + note);
      return result;
    } catch (err) {
      referenceError ??= (err as Error).message.split("\n")[0];
      log(`  reference  failed: ${referenceError}`);
      return null;
    }
  };
  let referenceError: string | undefined;
  const admin = new ChatClient(url, { admin: adminToken });
  const oursRun = async (round: number, note = "") => {
    const room = `bench-${options.runTag}-socket-${round}`;
    await admin.setRoomMode(room, "do");
    const run = await socketLoad(load(admin.socketUrl(room), options.serverPid));
    log(line("ours", run.result) + note);
    return { room, ...run };
  };

  // Rounds of reference, ours, ours, reference; the outbox is checked after ours' first run.
  const referenceResults: (SocketLoadResult | null)[] = [];
  const oursResults: SocketLoadResult[] = [];
  let outbox: OutboxResult | null = null;
  try {
    // One run of each side first, not counted: a side's first run pays its code and caches warming up.
    await referenceRun(0, "   (warm-up, not counted)");
    await oursRun(0, "   (warm-up, not counted)");
    for (let r = 1; r <= options.rounds; r++) {
      referenceResults.push(await referenceRun(2 * r - 1));
      const first = await oursRun(2 * r - 1);
      oursResults.push(first.result);
      outbox ??= await checkOutbox(url, adminToken, first.room, first.ackedIds, log);
      oursResults.push((await oursRun(2 * r)).result);
      referenceResults.push(await referenceRun(2 * r));
    }
  } finally {
    await (await referenceWorker?.catch(() => null))?.stop();
  }
  const ours = oursResults[0]!;
  const reference = referenceResults[0] ?? null;
  const referenceDone = referenceResults.filter((x): x is SocketLoadResult => x !== null);
  const complete = referenceDone.length === referenceResults.length;
  const oursRuns = oursResults.map((x) => x.perSecond);
  const referenceRuns = referenceDone.map((x) => x.perSecond);
  const cpuOurs = oursResults.map((x) => x.serverCpuMsPerMessage);
  const cpuReference = referenceDone.map((x) => x.serverCpuMsPerMessage);
  const known = (xs: (number | null)[]) => (xs.every((x) => x !== null) ? (xs as number[]) : []);
  const throughput = pairedRatios(complete ? oursRuns : [], referenceRuns);
  return {
    senders: options.senders,
    listeners: options.listeners,
    durationMs: options.durationMs,
    warmupMs: options.warmupMs,
    ours,
    reference,
    ...(referenceError ? { referenceError } : {}),
    runs: {
      ours: oursRuns.map((x) => round(x, 1)!),
      reference: referenceRuns.map((x) => round(x, 1)!),
      cpuOurs,
      cpuReference,
    },
    ratios: {
      oursOverReference: throughput.ofMeans,
      throughput,
      cpu: pairedRatios(complete ? known(cpuOurs) : [], known(cpuReference)),
    },
    outbox: outbox!,
  };
}

/** Record lag under the run's load, then every acknowledged id read back from KV once the outbox drained. */
async function checkOutbox(
  url: string,
  adminToken: string,
  room: string,
  ackedIds: string[],
  log: (line: string) => void,
): Promise<OutboxResult> {
  const outbox = await outboxRecords(url, adminToken, room, ackedIds, { drainWaitMs: 30_000, concurrency: 16 });
  const lag = outbox.outbox?.lagMs;
  log(
    `  outbox     ${outbox.pendingAtRunEnd ?? "?"} pending at the end, drained in ${outbox.drainedInMs ?? "—"} ms, lag p50 ${lag?.p50 ?? "—"} ms p99 ${lag?.p99 ?? "—"} ms` +
      `   records ${outbox.recordsChecked - outbox.recordsMissing - outbox.recordErrors}/${outbox.recordsChecked} found${outbox.error ? ` (${outbox.error})` : ""}`,
  );
  return outbox;
}
