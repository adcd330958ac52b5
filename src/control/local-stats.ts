// The local stand-in for the Analytics Engine dataset (STATS_STORE = "local": `npm start`,
// the tests, the bench): the same data points, summed per minute as they arrive, read by
// the same aggregations as the SQL API queries in stats.ts. A deployed Worker never calls it.
import { DurableObject } from "cloudflare:workers";
import { applyMigrations } from "../storage/migrations";
import { Usage } from "../storage/usage";
import type { UsageCounts } from "../shared/usage";
import l0001 from "../../migrations/local-stats/0001_buckets.sql";
import l0002 from "../../migrations/local-stats/0002_bot_tokens.sql";
import { TIMELINE_MINUTES, type BotStatRow, type StatBucket, type StatTimelineRow, type StatTotalsRow } from "./stats";

/** Analytics Engine keeps data points three months; so does the stand-in. */
const KEEP_MS = 90 * 24 * 3600_000;

export class LocalStats extends DurableObject<Env> {
  private readonly usage = new Usage();
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = (this.sql = this.usage.countingSql(ctx.storage.sql));
    ctx.blockConcurrencyWhile(async () => {
      ctx.storage.transactionSync(() =>
        applyMigrations(sql, [
          { version: 1, name: "buckets", sql: l0001 },
          { version: 2, name: "bot_tokens", sql: l0002 },
        ]),
      );
    });
  }

  async record(buckets: StatBucket[]): Promise<void> {
    this.usage.count("requests");
    this.ctx.storage.transactionSync(() => {
      for (const b of buckets) {
        this.sql.exec(
          `INSERT INTO buckets (minute, type, mode, kind, events, readded, delay_total, delay_max, kv_reads,
             kv_writes, kv_deletes, kv_lists, tokens_in, tokens_out) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (minute, type, mode, kind) DO UPDATE SET events = events + excluded.events,
             readded = readded + excluded.readded, delay_total = delay_total + excluded.delay_total,
             delay_max = MAX(delay_max, excluded.delay_max), kv_reads = kv_reads + excluded.kv_reads,
             kv_writes = kv_writes + excluded.kv_writes, kv_deletes = kv_deletes + excluded.kv_deletes,
             kv_lists = kv_lists + excluded.kv_lists, tokens_in = tokens_in + excluded.tokens_in,
             tokens_out = tokens_out + excluded.tokens_out`,
          b.minute,
          b.type,
          b.mode,
          b.kind,
          b.events,
          b.readded,
          b.delayTotal,
          b.delayMax,
          b.kvReads,
          b.kvWrites,
          b.kvDeletes,
          b.kvLists,
          b.tokensIn,
          b.tokensOut,
        );
      }
      this.sql.exec(`DELETE FROM buckets WHERE minute < ?`, Date.now() - KEEP_MS);
    });
  }

  async query(): Promise<{ totals: StatTotalsRow[]; timeline: StatTimelineRow[] }> {
    const totals = this.sql
      .exec<StatTotalsRow>(
        `SELECT type, mode, kind, SUM(events) AS events, SUM(readded) AS readded, SUM(delay_total) AS delayTotal,
           MAX(delay_max) AS delayMax, SUM(kv_reads) AS kvReads, SUM(kv_writes) AS kvWrites,
           SUM(kv_deletes) AS kvDeletes, SUM(kv_lists) AS kvLists, SUM(tokens_in) AS tokensIn,
           SUM(tokens_out) AS tokensOut
         FROM buckets GROUP BY type, mode, kind`,
      )
      .toArray();
    const timeline = this.sql
      .exec<StatTimelineRow>(
        `SELECT minute, mode, SUM(events) AS requested, SUM(readded) AS readded
         FROM buckets WHERE type = 'heal' AND minute > ? GROUP BY minute, mode ORDER BY minute`,
        Date.now() - TIMELINE_MINUTES * 60_000,
      )
      .toArray();
    return { totals: totals.map((row) => ({ ...row })), timeline: timeline.map((row) => ({ ...row })) };
  }

  /** Per bot and what it did, as the Analytics Engine query answers it (`lastAt`: to the minute here). */
  async botTotals(): Promise<BotStatRow[]> {
    this.usage.count("requests");
    return this.sql
      .exec<BotStatRow>(
        `SELECT mode AS bot, kind, SUM(events) AS events, SUM(tokens_in) AS tokensIn, SUM(tokens_out) AS tokensOut,
           MAX(minute) AS lastAt
         FROM buckets WHERE type = 'bot' GROUP BY mode, kind`,
      )
      .toArray()
      .map((row) => ({ ...row }));
  }

  /** Calls this object took since it woke (the bench prints the stand-in apart), and the points it summed (the cost bench prices them). */
  async calls(): Promise<UsageCounts & { points: number }> {
    const points = this.sql.exec<{ n: number | null }>(`SELECT SUM(events) AS n FROM buckets`).one().n ?? 0;
    return { ...this.usage.snapshot(), points };
  }
}
