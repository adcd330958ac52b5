// Acknowledged writes per second to one room, kv vs do, with `GET /api/health` (a
// request that touches no storage) measured in the same run as the runtime's ceiling.
// Two reads are measured as references for where a write's time goes, and the bare
// reference room's HTTP post (bench/reference: one RPC, one insert, one KV put) as the
// floor of any design with per-message KV records.
import { startLocalWorker, type LocalWorker } from "../../scripts/local-worker";
import { ChatClient } from "../lib/api";
import { measuredLoad, type LoadResult } from "../lib/load";
import { mean, pairedRatios, ratio, round, type RatioSpread } from "../lib/stats";
import { REFERENCE_CONFIG } from "./socket-writes";

export type ThroughputResult = {
  concurrency: number;
  durationMs: number;
  /**
   * serverCpuMsPerRequest: CPU of wrangler dev and workerd per answered request (Linux), warm-up excluded;
   * runs: requests/s of every run of a row measured more than once (the do and reference writes), whose result is its first;
   * cpuRuns: the server CPU ms per request of the same runs (absent from older reports)
   */
  scenarios: {
    name: string;
    what: string;
    result: LoadResult;
    serverCpuMsPerRequest: number | null;
    runs?: number[];
    cpuRuns?: (number | null)[];
  }[];
  /** referenceOverNoop and doOverReference are absent from reports made before the reference row */
  ratios: {
    doOverNoop: number | null;
    doOverKv: number | null;
    referenceOverNoop?: number | null;
    doOverReference?: number | null;
    /** do / reference write: requests/s and server CPU per request, with the spread of neighbouring runs */
    doOverReferenceSpread?: RatioSpread;
    cpuDoOverReference?: RatioSpread;
  };
  referenceError?: string;
};

type Step = { name: string; what: string; call: () => Promise<Response>; serverPid?: number };

export async function throughputBench(
  url: string,
  adminToken: string,
  options: { concurrency: number; durationMs: number; rounds: number; runTag: string; serverPid?: number },
  log: (line: string) => void,
): Promise<ThroughputResult> {
  const admin = new ChatClient(url, { admin: adminToken });
  const kvRoom = `bench-${options.runTag}-write-kv`;
  const doRoom = `bench-${options.runTag}-write-do`;
  await admin.setRoomMode(kvRoom, "kv");
  await admin.setRoomMode(doRoom, "do");
  const probe = await admin.post(doRoom, "a message to read back", "bench");
  const json = { "content-type": "application/json" };
  let n = 0;
  const write =
    (room: string, base = url) =>
    () =>
      fetch(`${base}/api/comments`, {
        method: "POST",
        headers: json,
        body: JSON.stringify({ room, text: `bench write ${++n}`, author: "bench" }),
      });

  // The reference runs in its own wrangler dev beside ours, idle until its row.
  let reference: LocalWorker | null = null;
  let referenceError: string | undefined;
  try {
    reference = await startLocalWorker({ config: REFERENCE_CONFIG });
  } catch (err) {
    referenceError = (err as Error).message.split("\n")[0];
    log(`  reference write: could not start the reference Worker: ${referenceError}`);
  }
  const plan: Step[] = [
    {
      name: "no-op",
      what: "GET /api/health: no storage, the runtime's ceiling",
      call: () => fetch(`${url}/api/health`),
    },
    {
      name: "kv record read",
      what: "GET /api/comments/:id?record=1: one KV read (reference)",
      call: () => fetch(`${url}/api/comments/${probe.id}?room=${doRoom}&record=1`),
    },
    {
      name: "do read (limit 1)",
      what: "GET /api/comments?limit=1 in a do room: flag read + one Room DO call (reference)",
      call: () => fetch(`${url}/api/comments?room=${doRoom}&limit=1`),
    },
    {
      name: "kv write",
      what: "POST /api/comments, kv room: record put + racy read-modify-write of cache:<room>",
      call: write(kvRoom),
    },
  ];
  const doWrite: Step = {
    name: "do write",
    what: "POST /api/comments, do room: record put + Room DO append",
    call: write(doRoom),
  };
  const referenceWrite: Step | null = reference
    ? {
        name: "reference write",
        what: "POST to the bare reference room (bench/reference): one RPC, one insert, one KV put; the floor",
        call: write(`bench-${options.runTag}-ref`, reference.url),
        serverPid: reference.process.pid,
      }
    : null;
  try {
    const scenarios: ThroughputResult["scenarios"] = [];
    for (const step of plan) scenarios.push(await measureStep(step, options, log));
    // One run of each side first, not counted: a path's first run pays its code and caches warming
    // up, which is not what a post costs in a room that has been running.
    const warmUpLog = (line: string) => log(`${line}   (warm-up, not counted)`);
    if (referenceWrite) await measureStep(referenceWrite, options, warmUpLog);
    await measureStep(doWrite, options, warmUpLog);
    // As the socket scenario: rounds of reference, ours, ours, reference.
    const doRuns: Row[] = [];
    const referenceRuns: Row[] = [];
    for (let round = 0; round < options.rounds; round++) {
      if (referenceWrite) referenceRuns.push(await measureStep(referenceWrite, options, log));
      doRuns.push(await measureStep(doWrite, options, log));
      if (referenceWrite) {
        doRuns.push(await measureStep(doWrite, options, log));
        referenceRuns.push(await measureStep(referenceWrite, options, log));
      }
    }
    scenarios.push(oneRow(doRuns));
    if (referenceRuns.length) scenarios.push(oneRow(referenceRuns));
    const rate = (name: string) => {
      const row = scenarios.find((s) => s.name === name);
      return (row?.runs ? mean(row.runs) : row?.result.perSecond) ?? Number.NaN;
    };
    return {
      concurrency: options.concurrency,
      durationMs: options.durationMs,
      scenarios,
      ratios: {
        doOverNoop: round(ratio(rate("do write"), rate("no-op")), 3),
        doOverKv: round(ratio(rate("do write"), rate("kv write")), 3),
        referenceOverNoop: round(ratio(rate("reference write"), rate("no-op")), 3),
        doOverReference: round(ratio(rate("do write"), rate("reference write")), 3),
        ...(referenceRuns.length ? spreads(doRuns, referenceRuns) : {}),
      },
      ...(referenceError ? { referenceError } : {}),
    };
  } finally {
    await reference?.stop();
  }
}

type Row = ThroughputResult["scenarios"][number];

/** A row measured more than once: its first run, with every run's requests/s and server CPU per request. */
function oneRow([first, ...more]: Row[]): Row {
  const all = [first!, ...more];
  return more.length
    ? {
        ...first!,
        runs: all.map((r) => round(r.result.perSecond, 1)!),
        cpuRuns: all.map((r) => r.serverCpuMsPerRequest),
      }
    : first!;
}

/** do / reference over neighbouring runs: requests/s, and server CPU per request where every run has it. */
function spreads(
  doRuns: Row[],
  referenceRuns: Row[],
): Pick<ThroughputResult["ratios"], "doOverReferenceSpread" | "cpuDoOverReference"> {
  const cpu = (rows: Row[]) => rows.map((r) => r.serverCpuMsPerRequest);
  const known = (xs: (number | null)[]) => (xs.every((x) => x !== null) ? (xs as number[]) : []);
  return {
    doOverReferenceSpread: pairedRatios(
      doRuns.map((r) => r.result.perSecond),
      referenceRuns.map((r) => r.result.perSecond),
    ),
    cpuDoOverReference: pairedRatios(known(cpu(doRuns)), known(cpu(referenceRuns))),
  };
}

/** One row: 1 s of warm-up, then the measured run and the server's CPU over it. */
async function measureStep(
  step: Step,
  options: { concurrency: number; durationMs: number; serverPid?: number },
  log: (line: string) => void,
): Promise<Row> {
  const { result, cpuMsPerCall: cpu } = await measuredLoad(step.call, {
    ...options,
    serverPid: step.serverPid ?? options.serverPid,
  });
  log(
    `  ${step.name.padEnd(18)} ${result.perSecond.toFixed(0).padStart(6)} /s   p50 ${result.latencyMs.p50.toFixed(1)} ms   p99 ${result.latencyMs.p99.toFixed(1)} ms` +
      `${cpu === null ? "" : `   server CPU ${cpu} ms/request`}${result.errors ? `   ${result.errors} errors (${result.firstError})` : ""}`,
  );
  return { name: step.name, what: step.what, result, serverCpuMsPerRequest: cpu };
}
