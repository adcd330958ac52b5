// Counted operations → USD per million messages, with the price table (prices.ts).
import { DO_BILLED_GB, PRICES } from "./prices";

/** Operations counted over one run; see bench/scenarios/cost.ts for where each comes from. */
export type CostCounts = {
  workerRequests: number;
  doRequests: number;
  socketMessagesIn: number;
  sqlRowsRead: number;
  sqlRowsWritten: number;
  kvReads: number;
  kvWrites: number;
  kvLists: number;
  kvDeletes: number;
  /** stats events: Analytics Engine data points */
  statsPoints: number;
  alarms: number;
};

/** Which price each count is billed at (alarms are DO requests already: listed, not priced twice). */
const PRICED: Record<Exclude<keyof CostCounts, "alarms">, keyof typeof PRICES> = {
  workerRequests: "workerRequest",
  doRequests: "doRequest",
  socketMessagesIn: "socketMessageIn",
  sqlRowsRead: "sqlRowRead",
  sqlRowsWritten: "sqlRowWritten",
  kvReads: "kvRead",
  kvWrites: "kvWrite",
  kvLists: "kvList",
  kvDeletes: "kvDelete",
  statsPoints: "analyticsPoint",
};

export type CostPerMillion = {
  /** USD per million messages, by counted item */
  byItem: Record<keyof typeof PRICED, number>;
  /** the sum of byItem: operations only */
  operations: number;
  /** at most this much more for duration: every object the run touched awake the whole run */
  durationAtMost: number;
  /** counted items that had a count but no price (say so beside the figure) */
  unpriced: string[];
};

export function perMessage(counts: CostCounts, messages: number): CostCounts {
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, messages ? v / messages : 0])) as CostCounts;
}

export function costPerMillion(
  counts: CostCounts,
  messages: number,
  awake: { objects: number; seconds: number },
): CostPerMillion {
  const per = perMessage(counts, messages);
  const unpriced: string[] = [];
  const byItem = Object.fromEntries(
    Object.entries(PRICED).map(([item, priceName]) => {
      const price: number | null = PRICES[priceName].usdPerMillion;
      const count = per[item as keyof CostCounts];
      if (price === null) {
        if (count > 0) unpriced.push(item);
        return [item, 0];
      }
      // count per message × price per million units = USD per million messages
      return [item, count * price];
    }),
  ) as CostPerMillion["byItem"];
  const gbSeconds = awake.objects * DO_BILLED_GB * awake.seconds;
  return {
    byItem,
    operations: Object.values(byItem).reduce((a, b) => a + b, 0),
    durationAtMost: messages ? (gbSeconds / messages) * PRICES.doDurationGbS.usdPerMillion : 0,
    unpriced,
  };
}
