// Cloudflare's prices as the cost bench uses them: one table, each price with its source
// and the day it was read (copied from the project's facts sheet, checked 2026-11). USD per
// million units, Workers Paid, above the monthly included amounts (which are left out: the
// figure is the marginal cost of a million messages). Where no price is known, it says so.

export type Price = {
  /** USD per million units; null where no source gives one */
  usdPerMillion: number | null;
  unit: string;
  source: string;
  readOn: string;
  note?: string;
};

const READ_ON = "2026-11";
const WORKERS = "https://developers.cloudflare.com/workers/platform/pricing/";
const DURABLE_OBJECTS = "https://developers.cloudflare.com/durable-objects/platform/pricing/";
const KV = "https://developers.cloudflare.com/kv/platform/pricing/";

export const PRICES = {
  workerRequest: {
    usdPerMillion: 0.3,
    unit: "Worker request",
    source: WORKERS,
    readOn: READ_ON,
    note: "10 M a month included",
  },
  workerCpuMs: {
    usdPerMillion: 0.02,
    unit: "Worker CPU ms",
    source: WORKERS,
    readOn: READ_ON,
    note: "not counted: local CPU time says nothing about the edge's",
  },
  doRequest: {
    usdPerMillion: 0.15,
    unit: "Durable Object request (HTTP, RPC, alarm)",
    source: DURABLE_OBJECTS,
    readOn: READ_ON,
    note: "1 M a month included; outgoing WebSocket messages are free",
  },
  /** Incoming WebSocket messages bill as requests at 20:1. */
  socketMessageIn: {
    usdPerMillion: 0.15 / 20,
    unit: "incoming WebSocket message",
    source: DURABLE_OBJECTS,
    readOn: READ_ON,
    note: "20 messages = 1 request; pings the runtime answers itself are counted here too (the facts sheet does not say whether they bill: the higher reading)",
  },
  doDurationGbS: {
    usdPerMillion: 12.5,
    unit: "GB-s of Durable Object duration (billed at 128 MB, not while hibernated)",
    source: DURABLE_OBJECTS,
    readOn: READ_ON,
    note: "400 k GB-s a month included; the bench bounds it from above (every object it touched awake the whole run)",
  },
  sqlRowRead: { usdPerMillion: 0.001, unit: "SQLite row read", source: DURABLE_OBJECTS, readOn: READ_ON },
  sqlRowWritten: {
    usdPerMillion: 1.0,
    unit: "SQLite row written",
    source: DURABLE_OBJECTS,
    readOn: READ_ON,
    note: "each index on a written column adds a row (D1's rule); setAlarm bills as one row written",
  },
  kvRead: {
    usdPerMillion: 0.5,
    unit: "KV read",
    source: KV,
    readOn: READ_ON,
    note: "a bulk read is counted per key (the facts sheet does not say; per key is the higher reading)",
  },
  kvWrite: { usdPerMillion: 5.0, unit: "KV write", source: KV, readOn: READ_ON },
  kvList: { usdPerMillion: 5.0, unit: "KV list", source: KV, readOn: READ_ON },
  analyticsPoint: {
    usdPerMillion: 0.25,
    unit: "Analytics Engine data point (a stats event)",
    source: "https://developers.cloudflare.com/analytics/analytics-engine/pricing/",
    readOn: "2026-12",
    note: "10 M a month included; counted from the local store that stands in for it",
  },
  kvDelete: {
    usdPerMillion: null,
    unit: "KV delete",
    source: KV,
    readOn: READ_ON,
    note: "no price in the facts sheet; neither path deletes keys",
  },
} as const satisfies Record<string, Price>;

/** Durable Objects bill duration at this memory size. */
export const DO_BILLED_GB = 0.125;
