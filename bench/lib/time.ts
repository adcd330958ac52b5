// Waiting helpers shared by the lab and the benchmarks.

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

export { jitter } from "../../src/shared/cadence";

/** Resolves when `check` is true (polled every `everyMs`), or false at the deadline. */
export async function waitFor(check: () => boolean, deadline: number, everyMs = 50): Promise<boolean> {
  // deadline is a now() time
  while (!check()) {
    if (now() >= deadline) return false;
    await sleep(everyMs);
  }
  return true;
}

/** Wall-clock ms with sub-ms resolution: comparable with the Worker's createdAt on the same machine. */
export const now = (): number => performance.timeOrigin + performance.now();
