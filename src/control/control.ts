// The Control Durable Object (one, named "global"): the flag's source of truth with
// its audit trail, and the per-mode counters. Counters live here, not in KV, because
// a KV read-modify-write would lose increments exactly like the legacy cache does.
import { DurableObject } from "cloudflare:workers";
import type { StatsResponse, ModeStats } from "../shared/api";
import { defaultFlags, type FlagAuditEntry, type Flags, type FlagsDocument } from "../shared/flags";
import type { CacheMode } from "../shared/message";
import { FLAGS_KEY } from "../shared/keys";

export const AUDIT_LIMIT = 50;
const TIMELINE_MINUTES = 120;

export type StatEvent =
  | { type: "post"; mode: CacheMode; kind: "human" | "ai" }
  | { type: "heal"; mode: CacheMode; readded: boolean; delayMs: number };

export class Control extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      ctx.storage.sql.exec(`
        CREATE TABLE IF NOT EXISTS flags (id INTEGER PRIMARY KEY CHECK (id = 1), doc TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS audit (at INTEGER NOT NULL, who TEXT NOT NULL, before TEXT NOT NULL, after TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS counters (mode TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (mode, name));
        CREATE TABLE IF NOT EXISTS timeline (minute INTEGER NOT NULL, mode TEXT NOT NULL, requested INTEGER NOT NULL, readded INTEGER NOT NULL, PRIMARY KEY (minute, mode));
      `);
    });
  }

  async getFlags(): Promise<{ flags: FlagsDocument; audit: FlagAuditEntry[] }> {
    const row = this.ctx.storage.sql.exec<{ doc: string }>(`SELECT doc FROM flags WHERE id = 1`).toArray()[0];
    const audit = this.ctx.storage.sql
      .exec<{ at: number; who: string; before: string; after: string }>(`SELECT * FROM audit ORDER BY at DESC, rowid DESC`)
      .toArray()
      .map((r) => ({ at: r.at, who: r.who, before: JSON.parse(r.before) as Flags, after: JSON.parse(r.after) as Flags }));
    return { flags: row ? (JSON.parse(row.doc) as FlagsDocument) : defaultFlags(this.env.CACHE_MODE), audit };
  }

  /** Replaces the flag, audits the change and publishes it to KV `flags` for the Worker to read. */
  async setFlags(next: Flags, who: string): Promise<{ before: FlagsDocument; after: FlagsDocument }> {
    const { flags: before } = await this.getFlags();
    const now = Date.now();
    const after: FlagsDocument = { ...next, version: before.version + 1, updatedAt: now, updatedBy: who };
    const strip = ({ defaultMode, doPercent, rooms }: Flags): Flags => ({ defaultMode, doPercent, rooms });
    this.ctx.storage.transactionSync(() => {
      this.ctx.storage.sql.exec(`INSERT OR REPLACE INTO flags (id, doc) VALUES (1, ?)`, JSON.stringify(after));
      this.ctx.storage.sql.exec(`INSERT INTO audit (at, who, before, after) VALUES (?, ?, ?, ?)`, now, who, JSON.stringify(strip(before)), JSON.stringify(strip(after)));
      this.ctx.storage.sql.exec(`DELETE FROM audit WHERE rowid NOT IN (SELECT rowid FROM audit ORDER BY at DESC, rowid DESC LIMIT ?)`, AUDIT_LIMIT);
    });
    await this.env.CHAT_KV.put(FLAGS_KEY, JSON.stringify(after));
    return { before, after };
  }

  /** Applies a batch of events in one transaction (see stats-batch.ts). */
  async record(events: StatEvent[]): Promise<void> {
    this.ctx.storage.transactionSync(() => {
      for (const event of events) this.apply(event);
    });
  }

  private apply(event: StatEvent): void {
    const sql = this.ctx.storage.sql;
    const bump = (name: string, by = 1) =>
      sql.exec(`INSERT INTO counters (mode, name, value) VALUES (?, ?, ?) ON CONFLICT (mode, name) DO UPDATE SET value = value + excluded.value`, event.mode, name, by);
    if (event.type === "post") {
      bump("posts");
      bump(event.kind === "human" ? "humanPosts" : "aiPosts");
      return;
    }
    bump("healsRequested");
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    sql.exec(
      `INSERT INTO timeline (minute, mode, requested, readded) VALUES (?, ?, 1, ?)
       ON CONFLICT (minute, mode) DO UPDATE SET requested = requested + 1, readded = readded + excluded.readded`,
      minute, event.mode, event.readded ? 1 : 0,
    );
    sql.exec(`DELETE FROM timeline WHERE minute < ?`, minute - TIMELINE_MINUTES * 60_000);
    if (!event.readded) return;
    bump("healsReadded");
    bump("healDelayTotalMs", Math.max(0, Math.round(event.delayMs)));
    sql.exec(
      `INSERT INTO counters (mode, name, value) VALUES (?, 'healDelayMaxMs', ?) ON CONFLICT (mode, name) DO UPDATE SET value = MAX(value, excluded.value)`,
      event.mode, Math.max(0, Math.round(event.delayMs)),
    );
  }

  async stats(roomsPerMode: Record<CacheMode, number>): Promise<StatsResponse> {
    const modes = {} as Record<CacheMode, ModeStats>;
    for (const mode of ["kv", "do"] as const) {
      const get = (name: string) =>
        this.ctx.storage.sql.exec<{ value: number }>(`SELECT value FROM counters WHERE mode = ? AND name = ?`, mode, name).toArray()[0]?.value ?? 0;
      const readded = get("healsReadded");
      modes[mode] = {
        posts: get("posts"),
        humanPosts: get("humanPosts"),
        aiPosts: get("aiPosts"),
        healsRequested: get("healsRequested"),
        healsReadded: readded,
        healDelayMeanMs: readded ? Math.round(get("healDelayTotalMs") / readded) : 0,
        healDelayMaxMs: get("healDelayMaxMs"),
        rooms: roomsPerMode[mode],
      };
    }
    const timeline = this.ctx.storage.sql
      .exec<{ minute: number; mode: CacheMode; requested: number; readded: number }>(`SELECT minute, mode, requested, readded FROM timeline ORDER BY minute`)
      .toArray();
    return { modes, timeline };
  }
}
