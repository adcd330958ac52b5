// Cost per million messages at a room's real rates, from two measured quantities per mode:
// the operations of one open page per second when nobody writes, and the operations of one
// message (at a measured rate, the pages' own idle share taken out). At r messages a minute
// with P open pages, each message carries P × 60 / r page-seconds of idle traffic:
//   USD per million messages = M(r) + P × (60 / r) × I
// with M(r) the messages' USD per million messages and I the idle USD per million page-seconds.
import type { PathMode } from "../../src/shared/message";
import { costPerMillion, type CostCounts } from "./compute";

/** Operations per unit (a message or a page-second), priced: USD per million units. */
export const usdPerMillion = (perUnit: CostCounts): number =>
  costPerMillion(perUnit, 1, { objects: 0, seconds: 0 }).operations;

/** counts − perPageSecond × pageSeconds, per message; a count the subtraction takes below 0 is 0. */
export function perMessageBeyondIdle(
  counts: CostCounts,
  perPageSecond: CostCounts,
  pageSeconds: number,
  messages: number,
): CostCounts {
  return Object.fromEntries(
    Object.entries(counts).map(([k, v]) => {
      const idle = perPageSecond[k as keyof CostCounts] * pageSeconds;
      return [k, messages ? Math.max(0, v - idle) / messages : 0];
    }),
  ) as CostCounts;
}

/** The measured rate whose per-message operations stand for `rate`: the nearest on a log scale. */
export function nearestRate(rate: number, measured: readonly number[]): number {
  if (!measured.length) throw new Error("no measured rate");
  return measured.reduce((best, m) => (Math.abs(Math.log(m / rate)) < Math.abs(Math.log(best / rate)) ? m : best));
}

export type ModeCostModel = {
  mode: PathMode;
  /** USD per million open page-seconds with nobody writing */
  idleUsdPerMillionPageSeconds: number;
  /** USD per million messages beyond the idle traffic, by the rate (messages a minute) it was measured at */
  messageUsdByRate: Record<number, number>;
};

export type CostRateRow = {
  mode: PathMode;
  pages: number;
  ratePerMinute: number;
  /** the measured rate whose per-message cost is used */
  measuredRate: number;
  /** M(r) */
  messageUsd: number;
  pageSecondsPerMessage: number;
  /** P × 60 / r × I */
  idleUsd: number;
  usdPerMillionMessages: number;
};

export function costAtRates(model: ModeCostModel, rates: readonly number[], pages: readonly number[]): CostRateRow[] {
  const measured = Object.keys(model.messageUsdByRate).map(Number);
  return pages.flatMap((p) =>
    rates.map((r) => {
      const measuredRate = nearestRate(r, measured);
      const messageUsd = model.messageUsdByRate[measuredRate]!;
      const pageSecondsPerMessage = (p * 60) / r;
      const idleUsd = pageSecondsPerMessage * model.idleUsdPerMillionPageSeconds;
      return {
        mode: model.mode,
        pages: p,
        ratePerMinute: r,
        measuredRate,
        messageUsd,
        pageSecondsPerMessage,
        idleUsd,
        usdPerMillionMessages: messageUsd + idleUsd,
      };
    }),
  );
}

/** USD per open page-hour with nobody writing. */
export const usdPerPageHour = (idleUsdPerMillionPageSeconds: number): number =>
  (idleUsdPerMillionPageSeconds * 3600) / 1e6;
