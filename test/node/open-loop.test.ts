// The open-loop load's schedule and tail percentiles, the paired ratios the CPU targets are judged by, and how far the
// reference's own p99 moves between rounds.
import { describe, expect, it } from "vitest";
import { schedule, tailLatency } from "../../bench/lib/open-loop";
import { pairedRatios } from "../../bench/lib/stats";
import { openLoopTargets, referenceDrift } from "../../bench/scenarios/report";
import type { OpenLoopBenchResult, OpenLoopLoad } from "../../bench/scenarios/open-loop";

describe("the open-loop schedule", () => {
  it("puts messages 1000 / rate ms apart from the start, whatever the answers do", () => {
    expect(schedule(100, 200, 4)).toEqual([100, 105, 110, 115]);
    expect(schedule(0, 3, 3).map((t) => Math.round(t))).toEqual([0, 333, 667]);
  });
});

describe("tail latency", () => {
  it("takes nearest-rank p50, p99 and p99.9 of the samples", () => {
    const values = Array.from({ length: 1000 }, (_, i) => i + 1);
    expect(tailLatency(values)).toEqual({ count: 1000, p50: 500, p99: 990, p999: 999, max: 1000 });
  });

  it("counts a message that never arrived as slower than every one that did", () => {
    const values = Array.from({ length: 990 }, () => 5);
    const t = tailLatency(values, 10);
    expect(t.count).toBe(1000);
    expect(t.p50).toBe(5);
    expect(t.p99).toBe(5);
    // p99.9 and max fall on the missing: no number can stand for them.
    expect(t.p999).toBeNull();
    expect(t.max).toBeNull();
  });
});

describe("paired ratios", () => {
  it("pairs each run with its neighbour of the other side and bounds the pairs", () => {
    const r = pairedRatios([90, 120, 100, 80], [100, 100, 100, 100]);
    expect(r.pairs).toEqual([0.9, 1.2, 1, 0.8]);
    expect(r.min).toBe(0.8);
    expect(r.max).toBe(1.2);
    expect(r.ofMeans).toBe(0.975);
  });

  it("has no ratio when a side has no runs or a run of nothing", () => {
    expect(pairedRatios([], [1, 2])).toMatchObject({ ofMeans: null, min: null, max: null });
    expect(pairedRatios([1, 2], [1, 0])).toMatchObject({ ofMeans: null, min: null, max: null });
  });
});

describe("the reference against itself", () => {
  const load = (ours: (number | null)[], reference: (number | null)[]): OpenLoopLoad =>
    ({
      name: "50 %",
      fraction: 0.5,
      ratePerSecond: 100,
      rounds: ours.map((p99, i) => ({
        ours: { latencyMs: { p99 } },
        reference: { latencyMs: { p99: reference[i] } },
      })),
      p99Ratio: pairedRatios(ours.map(Number), reference.map(Number)),
    }) as unknown as OpenLoopLoad;

  it("is the reference's largest round p99 over its smallest, shown beside the ratio it is the noise of", () => {
    const l = load([20, 18], [16, 24]);
    expect(referenceDrift(l)).toBe(1.5);
    const result = { senders: 16, listeners: 10, loads: [l] } as unknown as OpenLoopBenchResult;
    const check = openLoopTargets(result).find((c) => c.name === "open-loop p99 vs reference")!;
    expect(check.measured).toContain("the reference's own p99 1.50 × apart between its rounds");
    expect(check.met).toBe(false);
  });

  it("has none with one round or a p99 that fell on a missing message", () => {
    expect(referenceDrift(load([20], [16]))).toBeNull();
    expect(referenceDrift(load([20, 18], [16, null]))).toBeNull();
  });
});
