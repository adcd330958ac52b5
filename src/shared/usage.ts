// Billable operations a Durable Object or the Worker counted, in the units Cloudflare bills
// (docs/architecture.md "Usage counters"); the cost bench turns them into money (bench/cost/).
import type { PathMode } from "./message";

export type KvCounts = { kvReads: number; kvWrites: number; kvDeletes: number; kvLists: number };

/** One Durable Object's operations since `since` (when it woke: the counts live in memory, so writing them costs nothing). */
export type UsageCounts = KvCounts & {
  since: number;
  /** calls that are a Durable Object request: RPC calls on the message path and socket upgrades */
  requests: number;
  /** WebSocket messages the object received (billed 20:1 as requests; pings the runtime answers are not seen) */
  socketMessages: number;
  /** alarm runs (each a request) and `setAlarm` calls (each billed as one row written) */
  alarms: number;
  alarmsSet: number;
  sqlRowsRead: number;
  sqlRowsWritten: number;
};

/** KV operations the Worker made itself (outside any Durable Object), by the mode of the request's room ("none": no room). */
export type WorkerUsage = Record<PathMode | "none", KvCounts>;

/**
 * `GET /api/admin/stats` → `usage`: what the shared objects did since they woke, and the Worker's
 * KV operations. `registry`: the shards summed, with each shard's calls and the busiest's. `localStats`: the
 * local stats store's own, and the data points it holds (STATS_STORE = "local" only; a stand-in for
 * Analytics Engine, never deployed).
 */
export type UsageReport = {
  control: UsageCounts;
  registry: UsageCounts & { busiestRequests: number; shardRequests: number[]; shardSince: number[] };
  worker: WorkerUsage;
  localStats: (UsageCounts & { points: number }) | null;
};

export const KV_COUNT_NAMES = [
  "kvReads",
  "kvWrites",
  "kvDeletes",
  "kvLists",
] as const satisfies readonly (keyof KvCounts)[];

export const noKvCounts = (): KvCounts => ({ kvReads: 0, kvWrites: 0, kvDeletes: 0, kvLists: 0 });
