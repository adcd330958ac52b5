// Per-mode stats without a shared object on the message path: every event is one Workers
// Analytics Engine data point, written without a call to anything of ours. The operator page
// reads them back through Analytics Engine's SQL API. Under `npm start` and in tests
// (STATS_STORE = "local") the same points also go, summed and in batches, to one LocalStats
// object, because Analytics Engine has no local simulator to read back from.
import type { ModeStats, StatsResponse } from "../shared/api";
import type { PathMode } from "../shared/message";
import { KV_COUNT_NAMES, noKvCounts, type KvCounts, type WorkerUsage } from "../shared/usage";
import { noBotCounters, type BotCounters } from "../shared/bots";

export type StatEvent =
  | { type: "post"; mode: PathMode; kind: "human" | "ai" }
  | { type: "heal"; mode: PathMode; readded: boolean; delayMs: number }
  /** KV operations one Worker request made (src/worker/usage.ts), by its room's mode */
  | { type: "usage"; mode: keyof WorkerUsage; kv: KvCounts }
  /** A bot's work (src/worker/bot-identity.ts): seen (at most once a minute per isolate), a reply, a failure */
  | { type: "bot"; bot: string; what: BotWork; tokensIn?: number; tokensOut?: number };

export type BotWork = "seen" | "answered" | "failed";

/**
 * The columns of a data point, as both stores keep them: blob1 type, blob2 mode, blob3 kind;
 * double1 events (1), double2 readded (0/1), double3 heal delay ms, double4..7 the KV counts,
 * double8..9 tokens in and out. A bot point has the bot's name as its mode, what it did as its kind.
 */
export type StatPoint = { blobs: [string, string, string]; doubles: number[]; indexes: [string] };

export function toPoint(event: StatEvent): StatPoint {
  return event.type === "post" ? POST_POINTS[event.mode][event.kind] : pointOf(event);
}

function pointOf(event: StatEvent): StatPoint {
  const kv = event.type === "usage" ? event.kv : noKvCounts();
  const kind = event.type === "post" ? event.kind : "";
  const readded = event.type === "heal" && event.readded ? 1 : 0;
  const delayMs = event.type === "heal" ? Math.max(0, Math.round(event.delayMs)) : 0;
  if (event.type === "bot") {
    return {
      blobs: [event.type, event.bot, event.what],
      doubles: [1, 0, 0, ...KV_COUNT_NAMES.map((name) => kv[name]), event.tokensIn ?? 0, event.tokensOut ?? 0],
      // An index holds at most 96 bytes; a legacy bot's name may be longer (botId: up to 100 characters).
      indexes: [event.bot.slice(0, 32)],
    };
  }
  return {
    blobs: [event.type, event.mode, kind],
    doubles: [1, readded, delayMs, ...KV_COUNT_NAMES.map((name) => kv[name]), 0, 0],
    indexes: [event.mode],
  };
}

/** A post's point depends on its mode and kind alone: made once each, not once per message. */
const postPointsOf = (mode: PathMode) => ({
  human: Object.freeze(pointOf({ type: "post", mode, kind: "human" })),
  ai: Object.freeze(pointOf({ type: "post", mode, kind: "ai" })),
});
const POST_POINTS: Record<PathMode, Record<"human" | "ai", StatPoint>> = {
  kv: postPointsOf("kv"),
  do: postPointsOf("do"),
};

/** Totals by (type, mode, kind), as both stores' queries answer them. */
export type StatTotalsRow = {
  type: string;
  mode: string;
  kind: string;
  events: number;
  readded: number;
  delayTotal: number;
  delayMax: number;
  tokensIn: number;
  tokensOut: number;
} & KvCounts;
export type StatTimelineRow = { minute: number; mode: PathMode; requested: number; readded: number };

/** Minutes of heals the operator chart shows. */
export const TIMELINE_MINUTES = 120;

// ---- writing ----

/** Points summed per minute and (type, mode, kind): what the local store keeps. */
export type StatBucket = { minute: number } & StatTotalsRow;

/**
 * Where one isolate or one Durable Object sends its events. Analytics Engine takes each at
 * once; the local store gets them summed, in batches (one call every LOCAL_FLUSH_MS at most),
 * held by the waitUntil of the call that opened the batch: no promise is shared across
 * requests, which workerd refuses.
 */
export class StatsSink {
  private queued = new Map<string, StatBucket>();
  private flushDueAt: number | null = null;

  record(env: Env, waitUntil: (promise: Promise<unknown>) => void, event: StatEvent): void {
    const point = toPoint(event);
    env.STATS.writeDataPoint(point);
    if (env.STATS_STORE !== "local") return;
    addToBucket(this.queued, Date.now(), point);
    // A flush whose owner was cancelled before it ran must not hold the queue forever.
    if (this.flushDueAt !== null && Date.now() < this.flushDueAt + STALE_FLUSH_MS) return;
    this.flushDueAt = Date.now() + LOCAL_FLUSH_MS;
    waitUntil(new Promise<void>((resolve) => setTimeout(resolve, LOCAL_FLUSH_MS)).then(() => this.flush(env)));
  }

  private async flush(env: Env): Promise<void> {
    const batch = [...this.queued.values()];
    this.queued = new Map();
    this.flushDueAt = null;
    if (!batch.length) return;
    try {
      await env.LOCAL_STATS.getByName(LOCAL_STATS_NAME).record(batch);
    } catch (err) {
      console.log(
        JSON.stringify({ event: "stats-error", lost: batch.reduce((n, b) => n + b.events, 0), error: String(err) }),
      );
    }
  }
}

function addToBucket(
  buckets: Map<string, StatBucket>,
  at: number,
  { blobs: [type, mode, kind], doubles }: StatPoint,
): void {
  const minute = Math.floor(at / 60_000) * 60_000;
  const key = `${minute}|${type}|${mode}|${kind}`;
  const [events = 0, readded = 0, delay = 0, kvReads = 0, kvWrites = 0, kvDeletes = 0, kvLists = 0] = doubles;
  const [tokensIn = 0, tokensOut = 0] = doubles.slice(7);
  const bucket = buckets.get(key) ?? {
    minute,
    type,
    mode,
    kind,
    events: 0,
    readded: 0,
    delayTotal: 0,
    delayMax: 0,
    tokensIn: 0,
    tokensOut: 0,
    ...noKvCounts(),
  };
  bucket.events += events;
  bucket.readded += readded;
  bucket.delayTotal += readded * delay;
  bucket.delayMax = Math.max(bucket.delayMax, readded * delay);
  bucket.kvReads += kvReads;
  bucket.kvWrites += kvWrites;
  bucket.kvDeletes += kvDeletes;
  bucket.kvLists += kvLists;
  bucket.tokensIn += tokensIn;
  bucket.tokensOut += tokensOut;
  buckets.set(key, bucket);
}

export const LOCAL_STATS_NAME = "local";
/** The local store's batch window (a crash of the local server loses at most this much): wide, so the stand-in is no hot spot. */
export const LOCAL_FLUSH_MS = 5000;
/** A flush this late did not run (its request was cancelled): the next event opens a new one. */
const STALE_FLUSH_MS = 10_000;

const workerSink = new StatsSink();

/** Records a stats event from Worker code; a Durable Object keeps a StatsSink of its own. */
export function recordStat(env: Env, waitUntil: (promise: Promise<unknown>) => void, event: StatEvent): void {
  workerSink.record(env, waitUntil, event);
}

// ---- reading ----

/** What the operator page shows of the stats: per-mode figures, the heal timeline, the Worker's KV use. */
export type StatsRead = Pick<StatsResponse, "timeline"> & {
  modes: Record<PathMode, Omit<ModeStats, "rooms">>;
  worker: WorkerUsage;
};

/** Reads the totals from the store STATS_STORE names. */
export async function readStats(env: Env): Promise<StatsRead> {
  if (env.STATS_STORE === "local") {
    const { totals, timeline } = await env.LOCAL_STATS.getByName(LOCAL_STATS_NAME).query();
    return summarize(totals, timeline);
  }
  const dataset = datasetOf(env);
  const [totals, timeline] = await Promise.all([
    analyticsSql<StatTotalsRow>(env, totalsSql(dataset)),
    analyticsSql<StatTimelineRow>(env, timelineSql(dataset)),
  ]);
  return summarize(totals, timeline);
}

export class StatsUnavailable extends Error {}

/** The Analytics Engine query for the totals (data is kept three months: the totals cover that). */
export const totalsSql = (dataset: string) => `
  SELECT blob1 AS type, blob2 AS mode, blob3 AS kind,
    SUM(_sample_interval * double1) AS events, SUM(_sample_interval * double2) AS readded,
    SUM(_sample_interval * double2 * double3) AS delayTotal, MAX(double2 * double3) AS delayMax,
    SUM(_sample_interval * double4) AS kvReads, SUM(_sample_interval * double5) AS kvWrites,
    SUM(_sample_interval * double6) AS kvDeletes, SUM(_sample_interval * double7) AS kvLists,
    SUM(_sample_interval * double8) AS tokensIn, SUM(_sample_interval * double9) AS tokensOut
  FROM ${dataset} GROUP BY type, mode, kind FORMAT JSON`;

/** Per bot and what it did: counts, tokens, and the last minute it was seen doing it. */
export const botsSql = (dataset: string) => `
  SELECT blob2 AS bot, blob3 AS kind, SUM(_sample_interval * double1) AS events,
    SUM(_sample_interval * double8) AS tokensIn, SUM(_sample_interval * double9) AS tokensOut,
    toUnixTimestamp(MAX(timestamp)) * 1000 AS lastAt
  FROM ${dataset} WHERE blob1 = 'bot' GROUP BY bot, kind FORMAT JSON`;

export type BotStatRow = {
  bot: string;
  kind: string;
  events: number;
  tokensIn: number;
  tokensOut: number;
  lastAt: number;
};

/** Each bot's counters from the store STATS_STORE names (bots with no points are absent). */
export async function readBotCounters(env: Env): Promise<Map<string, BotCounters>> {
  const rows =
    env.STATS_STORE === "local"
      ? await env.LOCAL_STATS.getByName(LOCAL_STATS_NAME).botTotals()
      : await analyticsSql<BotStatRow>(env, botsSql(datasetOf(env)));
  const counters = new Map<string, BotCounters>();
  for (const row of rows) {
    const bot = counters.get(row.bot) ?? noBotCounters();
    bot.lastSeen = Math.max(bot.lastSeen ?? 0, row.lastAt);
    if (row.kind === "answered") bot.answered += row.events;
    if (row.kind === "failed") bot.failed += row.events;
    bot.tokensIn += row.tokensIn;
    bot.tokensOut += row.tokensOut;
    counters.set(row.bot, bot);
  }
  return counters;
}

function datasetOf(env: Env): string {
  const dataset = env.STATS_DATASET;
  if (!/^[a-z0-9_]+$/i.test(dataset ?? ""))
    throw new StatsUnavailable("STATS_DATASET must name the Analytics Engine dataset");
  return dataset;
}

export const timelineSql = (dataset: string) => `
  SELECT toUnixTimestamp(toStartOfInterval(timestamp, INTERVAL '1' MINUTE)) * 1000 AS minute, blob2 AS mode,
    SUM(_sample_interval) AS requested, SUM(_sample_interval * double2) AS readded
  FROM ${dataset} WHERE blob1 = 'heal' AND timestamp > NOW() - INTERVAL '${TIMELINE_MINUTES}' MINUTE
  GROUP BY minute, mode ORDER BY minute FORMAT JSON`;

async function analyticsSql<T>(env: Env, sql: string): Promise<T[]> {
  if (!env.STATS_ACCOUNT_ID || !env.STATS_API_TOKEN) {
    throw new StatsUnavailable("stats need the secrets STATS_ACCOUNT_ID and STATS_API_TOKEN (Account Analytics: Read)");
  }
  const url = `https://api.cloudflare.com/client/v4/accounts/${encodeURIComponent(env.STATS_ACCOUNT_ID)}/analytics_engine/sql`;
  const response = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${env.STATS_API_TOKEN}` },
    body: sql,
  });
  if (!response.ok)
    throw new StatsUnavailable(
      `Analytics Engine SQL API answered ${response.status}: ${(await response.text()).slice(0, 200)}`,
    );
  const { data } = await response.json<{ data: Record<string, string | number>[] }>();
  // Sums of UInt64 columns arrive as strings.
  return data.map(
    (row) =>
      Object.fromEntries(
        Object.entries(row).map(([k, v]) => [k, k === "type" || k === "mode" || k === "kind" ? v : Number(v)]),
      ) as T,
  );
}

/** The operator page's figures from the stores' rows. */
export function summarize(totals: StatTotalsRow[], timeline: StatTimelineRow[]): StatsRead {
  const worker: WorkerUsage = { kv: noKvCounts(), do: noKvCounts(), none: noKvCounts() };
  const modes = {} as StatsRead["modes"];
  for (const mode of ["kv", "do"] as const) {
    const rows = totals.filter((row) => row.mode === mode);
    const sum = (type: string, pick: (row: StatTotalsRow) => number, kind?: string) =>
      rows
        .filter((row) => row.type === type && (kind === undefined || row.kind === kind))
        .reduce((n, row) => n + pick(row), 0);
    const readded = sum("heal", (r) => r.readded);
    modes[mode] = {
      posts: sum("post", (r) => r.events),
      humanPosts: sum("post", (r) => r.events, "human"),
      aiPosts: sum("post", (r) => r.events, "ai"),
      healsRequested: sum("heal", (r) => r.events),
      healsReadded: readded,
      healDelayMeanMs: readded ? Math.round(sum("heal", (r) => r.delayTotal) / readded) : 0,
      healDelayMaxMs: rows.filter((r) => r.type === "heal").reduce((n, r) => Math.max(n, r.delayMax), 0),
    };
  }
  for (const row of totals) {
    if (row.type !== "usage" || !(row.mode in worker)) continue;
    for (const name of KV_COUNT_NAMES) worker[row.mode as keyof WorkerUsage][name] += row[name];
  }
  return { modes, timeline, worker };
}
