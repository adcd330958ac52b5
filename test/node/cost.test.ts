// The cost arithmetic (counted operations × bench/cost/prices.ts) and the limits Worker's config.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { costPerMillion, type CostCounts } from "../../bench/cost/compute";
import { PRICES } from "../../bench/cost/prices";
import { costAtRates, nearestRate, perMessageBeyondIdle, usdPerPageHour } from "../../bench/cost/rates";
import { limitsConfig } from "../../bench/scenarios/limit-cost";
import { PROJECT_ROOT } from "../../scripts/local-worker";

const none: CostCounts = {
  workerRequests: 0,
  doRequests: 0,
  socketMessagesIn: 0,
  sqlRowsRead: 0,
  sqlRowsWritten: 0,
  kvReads: 0,
  kvWrites: 0,
  kvLists: 0,
  kvDeletes: 0,
  statsPoints: 0,
  alarms: 0,
};

describe("cost per million messages", () => {
  it("is operations per message × USD per million operations, socket messages at 20:1", () => {
    // 200 messages: 2 KV writes, 1 Worker request, 20 socket messages and 11 rows written each.
    const cost = costPerMillion(
      {
        ...none,
        kvWrites: 400,
        workerRequests: 200,
        socketMessagesIn: 4_000,
        sqlRowsWritten: 2_200,
        statsPoints: 200,
        alarms: 7,
      },
      200,
      { objects: 1, seconds: 0 },
    );
    expect(cost.byItem.kvWrites).toBeCloseTo(2 * PRICES.kvWrite.usdPerMillion);
    expect(cost.byItem.workerRequests).toBeCloseTo(PRICES.workerRequest.usdPerMillion);
    expect(cost.byItem.socketMessagesIn).toBeCloseTo(PRICES.doRequest.usdPerMillion);
    expect(cost.byItem.sqlRowsWritten).toBeCloseTo(11 * PRICES.sqlRowWritten.usdPerMillion);
    expect(cost.byItem.statsPoints).toBeCloseTo(PRICES.analyticsPoint.usdPerMillion);
    expect(cost.operations).toBeCloseTo(2 * 5 + 0.3 + 0.15 + 11 + 0.25);
    expect(cost.unpriced).toEqual([]);
  });

  it("bounds duration by every touched object awake the whole run at 128 MB, and names what has no price", () => {
    const cost = costPerMillion({ ...none, kvDeletes: 3 }, 100, { objects: 2, seconds: 60 });
    // 2 × 0.125 GB × 60 s = 15 GB-s for 100 messages → 0.15 GB-s per message × $12.50 per million GB-s
    expect(cost.durationAtMost).toBeCloseTo(0.15 * 12.5);
    expect(cost.unpriced).toEqual(["kvDeletes"]);
  });
});

describe("cost at real rates", () => {
  it("takes the open pages' idle share out of a writing window, per message, never below 0", () => {
    const counts = { ...none, workerRequests: 130, kvReads: 12, kvWrites: 200 };
    const perPageSecond = { ...none, workerRequests: 1 / 6, kvReads: 1 / 6 };
    // 60 page-seconds: 10 polls and 10 KV reads of idle traffic, 100 messages
    const per = perMessageBeyondIdle(counts, perPageSecond, 60, 100);
    expect(per.workerRequests).toBeCloseTo(1.2);
    expect(per.kvReads).toBeCloseTo(0.02);
    expect(per.kvWrites).toBeCloseTo(2);
    expect(perMessageBeyondIdle({ ...none, kvReads: 5 }, perPageSecond, 60, 100).kvReads).toBe(0);
  });

  it("stands a rate for the nearest measured one on a log scale", () => {
    expect(nearestRate(1, [10, 100, 1000])).toBe(10);
    expect(nearestRate(30, [10, 100, 1000])).toBe(10);
    expect(nearestRate(40, [10, 100, 1000])).toBe(100);
    expect(nearestRate(5000, [10, 100, 1000])).toBe(1000);
  });

  it("is M + P × 60 / r × I per million messages", () => {
    const rows = costAtRates(
      { mode: "kv", idleUsdPerMillionPageSeconds: 0.1, messageUsdByRate: { 10: 12, 1000: 11 } },
      [1, 1000],
      [10, 50],
    );
    expect(rows.map((r) => [r.pages, r.ratePerMinute, r.measuredRate])).toEqual([
      [10, 1, 10],
      [10, 1000, 1000],
      [50, 1, 10],
      [50, 1000, 1000],
    ]);
    // 10 pages at 1 a minute: 600 page-seconds per message × $0.1 per million page-seconds = $60
    expect(rows[0]!.usdPerMillionMessages).toBeCloseTo(12 + 60);
    expect(rows[3]!.usdPerMillionMessages).toBeCloseTo(11 + 50 * 0.06 * 0.1);
    expect(usdPerPageHour(0.1)).toBeCloseTo(0.00036);
  });
});

describe("the limits Worker's config", () => {
  it("raises POST_LIMITER's and ROOM_LIMITER's limits, keeps their periods and leaves the other limits alone", () => {
    const toml = readFileSync(join(PROJECT_ROOT, "wrangler.toml"), "utf8");
    const limits = (text: string) =>
      [...text.matchAll(/name = "(\w+)"[^[]*?simple = \{ limit = (\d+), period = (\d+) \}/g)].map((m) => [
        m[1],
        Number(m[2]),
        Number(m[3]),
      ]);
    const before = limits(toml);
    const after = limits(limitsConfig(toml));
    expect(after.map(([name, , period]) => [name, period])).toEqual(before.map(([name, , period]) => [name, period]));
    for (const [name, limit] of after)
      expect(limit, String(name)).toBe(
        name === "POST_LIMITER" || name === "ROOM_LIMITER" ? 1_000_000_000 : before.find(([n]) => n === name)![1],
      );
    // The heal, stop and read limits are among those left alone.
    expect(after.map(([name]) => name)).toEqual(
      expect.arrayContaining(["HEAL_LIMITER", "STOP_LIMITER", "READ_LIMITER"]),
    );
    expect(() => limitsConfig(toml.replace(/name = "ROOM_LIMITER"/, 'name = "OTHER"'))).toThrow(/ROOM_LIMITER/);
  });
});
