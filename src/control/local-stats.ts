// The local stand-in for the Analytics Engine dataset (STATS_STORE = "local": `npm start`,
// the tests, the bench): the same data points in one SQLite table, read by the same
// aggregations as the SQL API queries in stats.ts. A deployed Worker never calls it.
import { DurableObject } from "cloudflare:workers";
import { applyMigrations } from "../storage/migrations";
import { Usage } from "../storage/usage";
import type { UsageCounts } from "../shared/usage";
import l0001 from "../../migrations/local-stats/0001_points.sql";
import { TIMELINE_MINUTES, type StatPoint, type StatTimelineRow, type StatTotalsRow } from "./stats";

/** Analytics Engine keeps data points three months; so does the stand-in. */
const KEEP_MS = 90 * 24 * 3600_000;

export class LocalStats extends DurableObject<Env> {
  private readonly usage = new Usage();
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = (this.sql = this.usage.countingSql(ctx.storage.sql));
    ctx.blockConcurrencyWhile(async () => {
      ctx.storage.transactionSync(() => applyMigrations(sql, [{ version: 1, name: "points", sql: l0001 }]));
    });
  }

  async record(points: StatPoint[]): Promise<void> {
    this.usage.count("requests");
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      for (const { blobs, doubles } of points) {
        this.sql.exec(`INSERT INTO points VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, now, ...blobs, ...doubles.slice(0, 7));
      }
      this.sql.exec(`DELETE FROM points WHERE at < ?`, now - KEEP_MS);
    });
  }

  async query(): Promise<{ totals: StatTotalsRow[]; timeline: StatTimelineRow[] }> {
    const totals = this.sql
      .exec<StatTotalsRow>(
        `SELECT blob1 AS type, blob2 AS mode, blob3 AS kind, SUM(double1) AS events, SUM(double2) AS readded,
           SUM(double2 * double3) AS delayTotal, MAX(double2 * double3) AS delayMax, SUM(double4) AS kvReads,
           SUM(double5) AS kvWrites, SUM(double6) AS kvDeletes, SUM(double7) AS kvLists
         FROM points GROUP BY type, mode, kind`,
      )
      .toArray();
    const timeline = this.sql
      .exec<StatTimelineRow>(
        `SELECT (at / 60000) * 60000 AS minute, blob2 AS mode, SUM(double1) AS requested, SUM(double2) AS readded
         FROM points WHERE blob1 = 'heal' AND at > ? GROUP BY minute, mode ORDER BY minute`,
        Date.now() - TIMELINE_MINUTES * 60_000,
      )
      .toArray();
    return { totals: totals.map((row) => ({ ...row })), timeline: timeline.map((row) => ({ ...row })) };
  }

  /** Calls this object took since it woke (the bench prints the stand-in apart), and the points it holds (the cost bench prices them). */
  async calls(): Promise<UsageCounts & { points: number }> {
    const points = this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM points`).one().n;
    return { ...this.usage.snapshot(), points };
  }
}
