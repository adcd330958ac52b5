// Percentiles and rates for the lab's and the benchmarks' tables.

export type Percentiles = { count: number; p50: number; p95: number; p99: number; max: number; mean: number };

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  // (the epsilon keeps float noise, e.g. 99.9 / 100 × 1000 = 999.0000000000001, off the next rank)
  const rank = Math.ceil((p / 100) * sorted.length - 1e-9);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
  };
}

/** The arithmetic mean; null for no values. */
export function mean(values: readonly number[]): number | null {
  return values.length ? values.reduce((a, x) => a + x, 0) / values.length : null;
}

/** a / b, or null when b is 0 (a ratio of nothing is not 0). */
export function ratio(a: number, b: number): number | null {
  return b === 0 ? null : a / b;
}

/** How many of `times` fall in the window [from, to): each instant counts in one window of a series. */
export function countWithin(times: Iterable<number | undefined>, from: number, to: number): number {
  let count = 0;
  for (const at of times) if (at !== undefined && at >= from && at < to) count++;
  return count;
}

/** Rounds for JSON output so reports stay readable. */
export function round(value: number | null, digits = 1): number | null {
  if (value === null || !Number.isFinite(value)) return null;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/**
 * ours / reference over runs made in rounds of reference, ours, ours, reference: run i of one
 * side is paired with run i of the other (its neighbour in time), so each ratio shares the
 * machine's state of the moment. `ofMeans` is the ratio of the two means; `min` and `max`
 * bound the pairs: a target counts as met only when the whole spread clears it.
 */
export type RatioSpread = { ofMeans: number | null; min: number | null; max: number | null; pairs: number[] };

export function pairedRatios(ours: readonly number[], reference: readonly number[]): RatioSpread {
  const n = Math.min(ours.length, reference.length);
  const pairs = Array.from({ length: n }, (_, i) => ratio(ours[i]!, reference[i]!)).filter(
    (r): r is number => r !== null && Number.isFinite(r),
  );
  const both = n > 0 && pairs.length === n;
  return {
    ofMeans: both ? round(ratio(mean(ours.slice(0, n))!, mean(reference.slice(0, n))!), 3) : null,
    min: both ? round(Math.min(...pairs), 3) : null,
    max: both ? round(Math.max(...pairs), 3) : null,
    pairs: pairs.map((r) => round(r, 3)!),
  };
}
