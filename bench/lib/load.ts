// A closed-loop load: `concurrency` requests always in flight for a fixed time.
// Only answered-with-2xx calls count; latencies are per call, in ms.
import { withCpuPerCall } from "./proc-cpu";
import { summarize, type Percentiles } from "./stats";

export type LoadResult = {
  ok: number;
  errors: number;
  seconds: number;
  perSecond: number;
  latencyMs: Percentiles;
  firstError?: string;
};

export async function closedLoop(
  call: () => Promise<Response>,
  options: { concurrency: number; durationMs: number; warmupMs?: number },
): Promise<LoadResult> {
  const run = async (durationMs: number, record: boolean) => {
    const latencies: number[] = [];
    let errors = 0;
    let firstError: string | undefined;
    const end = performance.now() + durationMs;
    const worker = async () => {
      while (performance.now() < end) {
        const start = performance.now();
        try {
          const res = await call();
          await res.arrayBuffer();
          if (res.ok) latencies.push(performance.now() - start);
          else {
            errors++;
            firstError ??= `HTTP ${res.status}`;
          }
        } catch (err) {
          errors++;
          firstError ??= (err as Error).message;
        }
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    const seconds = (performance.now() - started) / 1000;
    return record ? { latencies, errors, seconds, firstError } : null;
  };
  if (options.warmupMs) await run(options.warmupMs, false);
  const measured = (await run(options.durationMs, true))!;
  return {
    ok: measured.latencies.length,
    errors: measured.errors,
    seconds: measured.seconds,
    perSecond: measured.latencies.length / measured.seconds,
    latencyMs: summarize(measured.latencies),
    ...(measured.firstError ? { firstError: measured.firstError } : {}),
  };
}

/** Runs `task` for every item with at most `concurrency` in flight. */
export async function mapLimit<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await task(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/** One measured load: 1 s of warm-up, then `durationMs` with the server's CPU per answered call (see withCpuPerCall). */
export async function measuredLoad(
  call: () => Promise<Response>,
  options: { concurrency: number; durationMs: number; serverPid?: number },
): Promise<{ result: LoadResult; cpuMsPerCall: number | null }> {
  await closedLoop(call, { concurrency: options.concurrency, durationMs: 1_000 });
  return withCpuPerCall(options.serverPid, () =>
    closedLoop(call, { concurrency: options.concurrency, durationMs: options.durationMs }),
  );
}
