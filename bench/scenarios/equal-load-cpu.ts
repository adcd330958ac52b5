// Server CPU per message, ours vs the bare reference room, at an equal offered load measured
// concurrently. At saturation local workerd uses one core whatever the room (it is single-threaded),
// so CPU per message there is 1 / throughput, and throughput follows how fast this shared machine
// happens to be in that window. Here both Workers get the same fixed load, well below either's
// capacity, from one schedule loop, and both runtimes' CPU is read at the same instants:
// drift in the machine's speed falls on both alike. Each side's idle CPU rate, measured
// concurrently with no load right before each run, is taken out, so the runtimes' own timers are
// not charged to messages.
import { startLocalWorker, type LocalWorker } from "../../scripts/local-worker";
import { ChatClient } from "../lib/api";
import { OpenLoopRoom, schedule, sendOnSchedule, tailLatency, MAX_MESSAGES } from "../lib/open-loop";
import { openCpuWindow, runtimesCpuOver, waitUntilIdle, type CpuWindow } from "../lib/proc-cpu";
import { countWithin, pairedRatios, percentile, ratio, round, type RatioSpread } from "../lib/stats";
import { sleep } from "../lib/time";
import { REFERENCE_CONFIG } from "./socket-writes";

/** One side of a run: what was offered and answered in the measured window, and its server's CPU. */
export type EqualLoadSide = {
  /** messages (socket sends or HTTP posts) scheduled in the measured window */
  messages: number;
  /** acked over the socket, or answered 2xx */
  acked: number;
  /** refused: nacks, or HTTP posts answered otherwise or failed */
  nacks: number;
  /** (message, listener) pairs never delivered within the grace time (sockets) */
  missing: number;
  /** sockets that closed during the run */
  drops: number;
  /**
   * ms from the schedule's last send until every message was answered and delivered: how far the
   * side trailed its load (a queue); the grace time when it never caught up
   */
  trailMs: number;
  /**
   * messages answered within the measured window, which closes once both sides are done: the measured ones and
   * the warm-up ones answered after it opened. What its CPU is divided by.
   */
  answeredInWindow: number;
  firstError?: string;
  /** the server's runtime (its workerd processes) over the window, idle included */
  cpuMs: number | null;
  /** the same runtime's CPU ms per second with no load, measured right before the run */
  idleCpuMsPerSecond: number | null;
  /** (cpuMs − idle rate × the window) / answeredInWindow */
  cpuMsPerMessage: number | null;
  /** cpuMs / the window: core-seconds per second (1 is one core saturated) */
  coresUsed: number | null;
};

export type EqualLoadRun = {
  /** the measured window's real length */
  seconds: number;
  /** false when a Worker was still busy after the wait for idle before the run (its idle rate is then too high) */
  startedIdle: boolean;
  /** how late the one schedule loop sent against its schedule, p99 ms (it shares the machine) */
  sendLagP99Ms: number | null;
  ours: EqualLoadSide;
  reference: EqualLoadSide;
  /** ours / reference, CPU ms per message */
  ratio: number | null;
  /**
   * both Workers idle before the run, and both sides had every measured message acked and delivered
   * within the grace time, none refused, no socket dropped
   */
  clean: boolean;
};

export type EqualLoadPath = {
  what: string;
  /** messages per second offered to each room */
  ratePerSecond: number;
  /** the first run: it pays code and caches warming up, so it is not counted */
  warmup: EqualLoadRun;
  runs: EqualLoadRun[];
  /** ours / reference CPU per message over the concurrent pairs (the runs) */
  cpu: RatioSpread;
  /** runs that were not clean: a side lost or refused messages, a socket dropped, or a Worker was busy before */
  unclean: number;
};

export type EqualLoadCpuResult = {
  senders: number;
  listeners: number;
  warmupMs: number;
  durationMs: number;
  idleMs: number;
  graceMs: number;
  socket: EqualLoadPath | null;
  http: EqualLoadPath | null;
  referenceError?: string;
};

export type EqualLoadCpuOptions = {
  runTag: string;
  senders: number;
  listeners: number;
  socketRate: number;
  httpRate: number;
  durationMs: number;
  idleMs: number;
  rounds: number;
  serverPid?: number;
};

/** Sent on schedule before the measured window, left out of the counts (a fresh room's first messages). */
const WARMUP_MS = 2_000;
const GRACE_MS = 5_000;
/** What makes a run not clean, as the log and the report name it. */
export const UNCLEAN_CAUSES = "losses, errors or a busy start";

/** What a run drives on each side: an open-loop room's sockets, or fixed-rate HTTP posts. */
type LoadTarget = {
  send(k: number, scheduledAt: number, measured: boolean): void;
  settle(graceMs: number): Promise<void>;
  close(): void;
  tally(): Pick<EqualLoadSide, "messages" | "acked" | "nacks" | "missing" | "drops" | "firstError">;
  /**
   * Answers that came from `from` to `to` (performance.now()), warm-up ones included: a side still catching
   * up on the warm-up when the window opens does their work in it.
   */
  answeredBetween(from: number, to: number): number;
};

const socketTarget = (room: OpenLoopRoom): LoadTarget => ({
  send: (k, at, measured) => room.send(k, at, measured),
  settle: (graceMs) => room.settle(graceMs),
  close: () => room.close(),
  answeredBetween: (from, to) => room.answeredBetween(from, to),
  tally: () => {
    const d = room.delivery();
    return {
      messages: d.scheduled,
      acked: d.acked,
      nacks: d.nacks,
      missing: d.missing,
      drops: d.socketDrops,
      ...(d.firstError ? { firstError: d.firstError } : {}),
    };
  },
});

/** POST /api/comments into one room on schedule, whatever earlier posts are doing. */
function httpTarget(baseUrl: string, room: string): LoadTarget {
  let [messages, acked, nacks] = [0, 0, 0];
  let firstError: string | undefined;
  const pending = new Set<Promise<void>>();
  const answeredAt: number[] = [];
  return {
    send(k, _at, measured) {
      if (measured) messages++;
      const post = fetch(`${baseUrl}/api/comments`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ room, text: `equal load ${k}`, author: "bench" }),
      })
        .then(async (res) => {
          await res.arrayBuffer();
          answeredAt.push(performance.now());
          if (!measured) return;
          if (res.ok) acked++;
          else {
            nacks++;
            firstError ??= `HTTP ${res.status}`;
          }
        })
        .catch((err: unknown) => {
          if (measured) nacks++;
          firstError ??= (err as Error).message;
        })
        .finally(() => pending.delete(post));
      pending.add(post);
    },
    settle: (graceMs) => Promise.race([Promise.all(pending), sleep(graceMs)]).then(() => undefined),
    close: () => undefined,
    answeredBetween: (from, to) => countWithin(answeredAt, from, to),
    tally: () => ({ messages, acked, nacks, missing: 0, drops: 0, ...(firstError ? { firstError } : {}) }),
  };
}

/** Server CPU per message with the idle rate taken out; null without /proc, an idle figure, or messages. */
export function netCpuPerMessage(
  cpuMs: number | null,
  idleCpuMsPerSecond: number | null,
  seconds: number,
  messages: number,
): number | null {
  if (cpuMs === null || idleCpuMsPerSecond === null || messages === 0) return null;
  return round((cpuMs - idleCpuMsPerSecond * seconds) / messages, 3);
}

/**
 * A side with nothing lost, refused or dropped: every measured message acked and at every listener within
 * the grace time. One that trailed its load is still clean: the window stays open until it is done.
 */
export const cleanSide = (s: EqualLoadSide): boolean =>
  s.messages > 0 && s.acked === s.messages && s.nacks === 0 && s.missing === 0 && s.drops === 0;

const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );

/** A Worker counts as idle below this CPU rate (ms per second); the runtimes' own timers use about a tenth of it. */
const IDLE = { msPerSecond: 50, windowMs: 1_000, maxWaitMs: 30_000 };

/**
 * Each runtime's idle CPU ms per second: the median of one-second windows over `idleMs`, read for all
 * runtimes at once, so one burst of a runtime's housekeeping does not stand for its whole idle rate.
 */
async function idleCpuRates(pids: readonly (number | undefined)[], idleMs: number): Promise<(number | null)[]> {
  const windows: { cpuMs: (number | null)[]; seconds: number }[] = [];
  for (let n = Math.max(1, Math.round(idleMs / 1000)); n > 0; n--) windows.push(await runtimesCpuOver(pids, 0, 1_000));
  return pids.map((_, i) => {
    const rates = windows.map((w) => (w.cpuMs[i] === null ? null : w.cpuMs[i]! / w.seconds));
    return rates.every((r) => r !== null) ? median(rates as number[]) : null;
  });
}

/**
 * One run: both sides idle, their idle CPU rates over `idleMs` (concurrently), then the same
 * schedule offered to both from one loop and both runtimes' CPU read over the same measured window.
 */
async function equalLoadRun(
  targets: readonly [LoadTarget, LoadTarget],
  pids: readonly [number | undefined, number | undefined],
  ratePerSecond: number,
  options: { durationMs: number; idleMs: number },
): Promise<EqualLoadRun> {
  const quiet = await waitUntilIdle(pids, IDLE);
  const idleRates = await idleCpuRates(pids, options.idleMs);
  const count = Math.min(MAX_MESSAGES, Math.ceil(((WARMUP_MS + options.durationMs) / 1000) * ratePerSecond));
  const start = performance.now() + 50;
  const times = schedule(start, ratePerSecond, count);
  const measureFrom = start + WARMUP_MS;
  // The window opens as the measured messages start and closes once both sides answered and delivered
  // them all: it holds every measured message's work even when a side trails its load.
  const opening = openCpuWindow(pids, measureFrom - performance.now());
  const lags: number[] = [];
  let trailMs = [GRACE_MS, GRACE_MS];
  let used: CpuWindow;
  try {
    await sendOnSchedule(times, (k, now) => {
      const measured = times[k]! >= measureFrom;
      if (measured) lags.push(now - times[k]!);
      // Which room gets each message first alternates, so neither always waits for the other's send.
      const [first, second] = k % 2 ? [targets[0], targets[1]] : [targets[1], targets[0]];
      first.send(k, times[k]!, measured);
      second.send(k, times[k]!, measured);
    });
    const sentAt = performance.now();
    trailMs = await Promise.all(
      targets.map((t) => t.settle(GRACE_MS).then(() => round(performance.now() - sentAt, 0)!)),
    );
    used = (await opening).end();
  } finally {
    for (const t of targets) t.close();
  }
  const side = (i: 0 | 1): EqualLoadSide => {
    const tally = targets[i].tally();
    const cpuMs = used.cpuMs[i]!;
    const idleRate = idleRates[i]!;
    const answeredInWindow = targets[i].answeredBetween(used.startedAt, used.endedAt);
    return {
      ...tally,
      trailMs: trailMs[i]!,
      answeredInWindow,
      cpuMs: round(cpuMs, 0),
      idleCpuMsPerSecond: round(idleRate, 1),
      cpuMsPerMessage: netCpuPerMessage(cpuMs, idleRate, used.seconds, answeredInWindow),
      coresUsed: cpuMs === null ? null : round(cpuMs / 1000 / used.seconds, 3),
    };
  };
  const [ours, reference] = [side(0), side(1)];
  return {
    seconds: round(used.seconds, 2)!,
    startedIdle: quiet,
    sendLagP99Ms: tailLatency(lags).p99,
    ours,
    reference,
    ratio:
      ours.cpuMsPerMessage === null || reference.cpuMsPerMessage === null
        ? null
        : round(ratio(ours.cpuMsPerMessage, reference.cpuMsPerMessage), 3),
    clean: quiet && cleanSide(ours) && cleanSide(reference),
  };
}

const sideText = (name: string, s: EqualLoadSide) =>
  `${name} ${s.acked}/${s.messages} acked, ${s.nacks} nacks, ${s.missing} missing, ${s.drops} drops, ` +
  `all in ${s.trailMs} ms after the last send, ${s.answeredInWindow} answered in the window; ` +
  `CPU ${s.cpuMsPerMessage ?? "—"} ms/msg (idle ${s.idleCpuMsPerSecond ?? "—"} ms/s taken out), ` +
  `${s.coresUsed ?? "—"} cores${s.firstError ? ` (${s.firstError})` : ""}`;

const runLine = (r: EqualLoadRun) =>
  `  ${sideText("ours", r.ours)}\n  ${sideText("reference", r.reference)}\n` +
  `  ours / reference ${r.ratio ?? "—"} ×   send lag p99 ${r.sendLagP99Ms ?? "—"} ms` +
  `${r.clean || !r.startedIdle ? "" : "   LOSSES OR ERRORS: not a clean run"}` +
  `${r.startedIdle ? "" : "   A WORKER WAS STILL BUSY BEFORE THE RUN: its idle rate is overstated, not a clean run"}`;

/** A warm-up run, then `rounds` counted runs, each in fresh rooms on both sides. */
async function equalLoadPath(
  what: string,
  ratePerSecond: number,
  rounds: number,
  newTargets: (run: number) => Promise<[LoadTarget, LoadTarget]>,
  pids: readonly [number | undefined, number | undefined],
  options: EqualLoadCpuOptions,
  log: (line: string) => void,
): Promise<EqualLoadPath> {
  const run = async (n: number) => {
    log(`  run ${n === 0 ? "0 (warm-up, not counted)" : n}:`);
    const result = await equalLoadRun(await newTargets(n), pids, ratePerSecond, options);
    log(runLine(result));
    return result;
  };
  const warmup = await run(0);
  const runs: EqualLoadRun[] = [];
  for (let n = 1; n <= rounds; n++) runs.push(await run(n));
  const perMessage = (side: "ours" | "reference") =>
    runs.every((r) => r[side].cpuMsPerMessage !== null) ? runs.map((r) => r[side].cpuMsPerMessage!) : [];
  const cpu = pairedRatios(perMessage("ours"), perMessage("reference"));
  const unclean = runs.filter((r) => !r.clean).length;
  log(
    `  ${what}: ours / reference ${cpu.ofMeans ?? "—"} × of the means (pairs ${cpu.pairs.join(", ") || "—"})` +
      `${unclean ? `; ${unclean} runs not clean (${UNCLEAN_CAUSES})` : ""}`,
  );
  return { what, ratePerSecond, warmup, runs, cpu, unclean };
}

export async function equalLoadCpuBench(
  url: string,
  adminToken: string,
  options: EqualLoadCpuOptions,
  log: (line: string) => void,
): Promise<EqualLoadCpuResult> {
  const admin = new ChatClient(url, { admin: adminToken });
  const base = {
    senders: options.senders,
    listeners: options.listeners,
    warmupMs: WARMUP_MS,
    durationMs: options.durationMs,
    idleMs: options.idleMs,
    graceMs: GRACE_MS,
  };
  let reference: LocalWorker;
  try {
    reference = await startLocalWorker({ config: REFERENCE_CONFIG });
  } catch (err) {
    const referenceError = (err as Error).message.split("\n")[0]!;
    log(`  could not start the reference Worker: ${referenceError}`);
    return { ...base, socket: null, http: null, referenceError };
  }
  try {
    const referenceClient = new ChatClient(reference.url);
    const pids = [options.serverPid, reference.process.pid] as const;
    const doRoom = async (name: string) => {
      await admin.setRoomMode(name, "do");
      return name;
    };
    const room = (path: string, n: number) => `bench-${options.runTag}-cpu-${path}-${n}`;

    log(`  sockets, ${options.socketRate} msgs/s offered to each room:`);
    const socket = await equalLoadPath(
      "socket message",
      options.socketRate,
      options.rounds,
      async (n) => {
        const opened = await Promise.allSettled([
          OpenLoopRoom.open(admin.socketUrl(await doRoom(room("socket", n))), options.senders, options.listeners),
          OpenLoopRoom.open(referenceClient.socketUrl(room("socket-ref", n)), options.senders, options.listeners),
        ]);
        const rooms = opened.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
        const failed = opened.find((o): o is PromiseRejectedResult => o.status === "rejected");
        if (failed) {
          for (const r of rooms) r.close();
          throw failed.reason;
        }
        return [socketTarget(rooms[0]!), socketTarget(rooms[1]!)];
      },
      pids,
      options,
      log,
    );

    log(`  HTTP posts, ${options.httpRate} posts/s offered to each room:`);
    const http = await equalLoadPath(
      "HTTP post",
      options.httpRate,
      options.rounds,
      async (n) => [httpTarget(url, await doRoom(room("http", n))), httpTarget(reference.url, room("http-ref", n))],
      pids,
      options,
      log,
    );
    return { ...base, socket, http };
  } finally {
    await reference.stop();
  }
}
