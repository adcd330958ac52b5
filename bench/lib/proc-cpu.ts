// CPU time used by a local Worker's runtime (Linux /proc), so a benchmark can report how much
// server CPU each request costs: on a small machine that, not the storage design, is what caps
// requests per second. Counted: the workerd processes under the wrangler process. Not counted:
// wrangler's own Node process and its esbuild watcher, which serve no request: their timers and
// file polling differ by config (the reference's watcher polls several times as much as ours) and burst.
import { readFileSync, readdirSync } from "node:fs";
import { round } from "./stats";
import { sleep } from "./time";

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** One process as /proc gives it: its parent, its command (comm: the executable's name) and the CPU it used. */
export type ProcessCpu = { pid: number; ppid: number; command: string; cpuMs: number };

/** The process that runs the Worker and its Durable Objects. */
const RUNTIME = "workerd";

function readStat(pid: string): ProcessCpu | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name is in parentheses and may contain spaces: split after the last ")".
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    const command = text.slice(text.indexOf("(") + 1, text.lastIndexOf(")"));
    const cpuMs = ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
    return { pid: Number(pid), ppid: Number(fields[1]), command, cpuMs };
  } catch {
    return null;
  }
}

/** `rootPid` and all its descendants; null without /proc or when it is gone. */
export function processTree(rootPid: number | undefined): ProcessCpu[] | null {
  if (rootPid === undefined) return null;
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return null;
  }
  const stats = entries.map(readStat).filter((s): s is ProcessCpu => s !== null);
  const children = new Map<number, ProcessCpu[]>();
  for (const s of stats) {
    const siblings = children.get(s.ppid);
    if (siblings) siblings.push(s);
    else children.set(s.ppid, [s]);
  }
  const root = stats.find((s) => s.pid === rootPid);
  if (!root) return null;
  const tree: ProcessCpu[] = [];
  for (const stack = [root]; stack.length;) {
    const s = stack.pop()!;
    tree.push(s);
    stack.push(...(children.get(s.pid) ?? []));
  }
  return tree;
}

/** CPU ms used so far by the runtime (workerd) processes among `rootPid`'s descendants; null without /proc. */
export function runtimeCpuMs(rootPid: number | undefined): number | null {
  const tree = processTree(rootPid);
  return tree && tree.reduce((ms, p) => ms + (p.command === RUNTIME ? p.cpuMs : 0), 0);
}

/**
 * Runs `work`, then charges the CPU `pid`'s runtime used meanwhile to its answered calls: ms per call
 * (null without /proc or answers).
 */
export async function withCpuPerCall<T extends { ok: number }>(
  pid: number | undefined,
  work: () => Promise<T>,
): Promise<{ result: T; cpuMsPerCall: number | null }> {
  const before = runtimeCpuMs(pid);
  const result = await work();
  const after = runtimeCpuMs(pid);
  return {
    result,
    cpuMsPerCall: before === null || after === null || result.ok === 0 ? null : round((after - before) / result.ok, 2),
  };
}

/** CPU each runtime used over a window, the window's length, and its bounds on performance.now(). */
export type CpuWindow = { cpuMs: (number | null)[]; seconds: number; startedAt: number; endedAt: number };

/**
 * Reads each runtime's CPU `fromMs` from now; the answer's `end()` reads it again and gives what was used in
 * between (null where /proc is not available): a window that may end when the caller's work is done.
 */
export async function openCpuWindow(
  pids: readonly (number | undefined)[],
  fromMs: number,
): Promise<{ end(): CpuWindow }> {
  await sleep(fromMs);
  const before = pids.map(runtimeCpuMs);
  const startedAt = performance.now();
  return {
    end() {
      const after = pids.map(runtimeCpuMs);
      const endedAt = performance.now();
      return {
        cpuMs: before.map((b, i) => (b === null || after[i] === null ? null : after[i]! - b)),
        seconds: (endedAt - startedAt) / 1000,
        startedAt,
        endedAt,
      };
    },
  };
}

/** The same window over a fixed `durationMs` (its real length is measured: a timer may wake late). */
export async function runtimesCpuOver(
  pids: readonly (number | undefined)[],
  fromMs: number,
  durationMs: number,
): Promise<CpuWindow> {
  const window = await openCpuWindow(pids, fromMs);
  await sleep(durationMs);
  return window.end();
}

/**
 * Waits until each runtime uses less than `msPerSecond` of CPU over one window of `windowMs`: a room may
 * still be working through a run's backlog (and our outbox flushes its records after the acks), which
 * the next run would otherwise measure. False if a runtime was still busy after `maxWaitMs`.
 */
export async function waitUntilIdle(
  pids: readonly (number | undefined)[],
  { msPerSecond, windowMs, maxWaitMs }: { msPerSecond: number; windowMs: number; maxWaitMs: number },
): Promise<boolean> {
  for (const deadline = performance.now() + maxWaitMs; performance.now() < deadline;) {
    const { cpuMs, seconds } = await runtimesCpuOver(pids, 0, windowMs);
    if (cpuMs.every((ms) => ms === null || ms / seconds < msPerSecond)) return true;
  }
  return false;
}
