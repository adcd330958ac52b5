// The Control Durable Object (one, named "global"): the flag's source of truth with
// its audit trail, and the per-mode counters. Counters live here, not in KV, because
// a KV read-modify-write would lose increments exactly like the legacy cache does.
import { DurableObject } from "cloudflare:workers";
import type { DeletionAuditEntry, FlagsResponse, StatsResponse, ModeStats } from "../shared/api";
import { defaultFlags, resolveMode, type FlagAuditEntry, type Flags, type FlagsDocument } from "../shared/flags";
import type { CacheMode } from "../shared/message";
import { FLAGS_KEY } from "../shared/keys";
import { applyMigrations } from "../storage/migrations";
import { CONTROL_MIGRATIONS } from "./migrations";
import { Usage } from "../storage/usage";
import { KV_COUNT_NAMES, noKvCounts, type KvCounts, type UsageReport, type WorkerUsage } from "../shared/usage";

export const AUDIT_LIMIT = 50;
/** Deletions the audit keeps (newest): moderation is more frequent than flag changes. */
export const DELETION_AUDIT_LIMIT = 500;
const TIMELINE_MINUTES = 120;

export type StatEvent =
  | { type: "post"; mode: CacheMode; kind: "human" | "ai" }
  | { type: "heal"; mode: CacheMode; readded: boolean; delayMs: number }
  /** KV operations one Worker request made (src/worker/index.ts), by its room's mode */
  | { type: "usage"; mode: keyof WorkerUsage; kv: KvCounts };

export class Control extends DurableObject<Env> {
  private readonly usageCounts = new Usage();
  /** Every statement counted: the cost bench reads the rows this object writes. */
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = (this.sql = this.usageCounts.countingSql(ctx.storage.sql));
    ctx.blockConcurrencyWhile(async () => {
      ctx.storage.transactionSync(() => applyMigrations(sql, CONTROL_MIGRATIONS));
    });
  }

  async getFlags(): Promise<FlagsResponse> {
    const row = this.sql.exec<{ doc: string }>(`SELECT doc FROM flags WHERE id = 1`).toArray()[0];
    const audit = this.sql
      .exec<{ at: number; who: string; before: string; after: string }>(`SELECT * FROM audit ORDER BY at DESC, rowid DESC`)
      .toArray()
      .map((r) => ({ at: r.at, who: r.who, before: JSON.parse(r.before) as Flags, after: JSON.parse(r.after) as Flags }));
    const deletions = this.sql
      .exec<DeletionAuditEntry>(`SELECT at, who, room, id, kind FROM deletions ORDER BY at DESC, rowid DESC`)
      .toArray()
      .map((r) => ({ ...r }));
    return { flags: row ? (JSON.parse(row.doc) as FlagsDocument) : defaultFlags(this.env.CACHE_MODE), audit, deletions };
  }

  /**
   * Audits an operator deletion, once per message: the Worker records every answer to a
   * DELETE, so a retry after a failed record still leaves its entry, and a repeat none.
   */
  async recordDeletion(entry: DeletionAuditEntry): Promise<void> {
    this.ctx.storage.transactionSync(() => {
      this.sql.exec(
        `INSERT INTO deletions (room, id, kind, at, who) VALUES (?, ?, ?, ?, ?) ON CONFLICT (room, id) DO NOTHING`,
        entry.room, entry.id, entry.kind, entry.at, entry.who,
      );
      this.sql.exec(`DELETE FROM deletions WHERE rowid NOT IN (SELECT rowid FROM deletions ORDER BY at DESC, rowid DESC LIMIT ?)`, DELETION_AUDIT_LIMIT);
    });
  }

  /** Replaces the flag, audits the change and publishes it to KV `flags` for the Worker to read. */
  async setFlags(next: Flags, who: string): Promise<{ before: FlagsDocument; after: FlagsDocument }> {
    const { flags: before } = await this.getFlags();
    const now = Date.now();
    const after: FlagsDocument = { ...next, version: Math.max(before.version + 1, this.reserved()), updatedAt: now, updatedBy: who };
    const strip = ({ defaultMode, doPercent, rooms }: Flags): Flags => ({ defaultMode, doPercent, rooms });
    this.ctx.storage.transactionSync(() => {
      this.sql.exec(`INSERT OR REPLACE INTO flags (id, doc) VALUES (1, ?)`, JSON.stringify(after));
      this.sql.exec(`DELETE FROM pending_flip`);
      this.sql.exec(`INSERT INTO audit (at, who, before, after) VALUES (?, ?, ?, ?)`, now, who, JSON.stringify(strip(before)), JSON.stringify(strip(after)));
      this.sql.exec(`DELETE FROM audit WHERE rowid NOT IN (SELECT rowid FROM audit ORDER BY at DESC, rowid DESC LIMIT ?)`, AUDIT_LIMIT);
    });
    await this.env.CHAT_KV.put(FLAGS_KEY, JSON.stringify(after));
    return { before, after };
  }

  // ---- rooms in do mode: what a flip must flush, without listing every room ----

  /**
   * A fresh flag version for one flip attempt: rooms it flushes are stamped with it, and
   * the flag it publishes is at least it. An abandoned attempt's version is never reused,
   * so a later flag always reaches those rooms as newer.
   */
  async reserveVersion(next: Flags): Promise<number> {
    const { flags } = await this.getFlags();
    const version = Math.max(flags.version, this.reserved()) + 1;
    this.ctx.storage.transactionSync(() => {
      this.sql.exec(`INSERT INTO reserved_version (id, version) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET version = excluded.version`, version);
      // While this flip runs, a room it would move to kv may not enter do mode (roomEntered).
      this.sql.exec(`INSERT INTO pending_flip (id, flags) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET flags = excluded.flags`, JSON.stringify(next));
    });
    return version;
  }

  /**
   * A room asks to take do calls. Admitted only if the current flag and any flip in
   * progress both put it in do mode; either way it learns the newest version, so a room
   * refused here stays out of do mode until a newer flag says otherwise. Serialized with
   * flips in this object, so no room can slip in between a flip's list and its publish.
   * `record: false` (a never-written room's read) only asks: nothing is stored for it.
   */
  async roomEntered(name: string, record = true): Promise<{ admitted: boolean; version: number }> {
    this.usageCounts.count("requests");
    const { flags } = await this.getFlags();
    const pending = this.sql.exec<{ flags: string }>(`SELECT flags FROM pending_flip WHERE id = 1`).toArray()[0];
    const admitted = resolveMode(flags, name) === "do" && (!pending || resolveMode(JSON.parse(pending.flags) as Flags, name) === "do");
    if (admitted && record) this.sql.exec(`INSERT INTO do_rooms (name, since) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, Date.now());
    return { admitted, version: Math.max(flags.version, this.reserved()) };
  }

  private reserved(): number {
    return this.sql.exec<{ version: number }>(`SELECT version FROM reserved_version WHERE id = 1`).toArray()[0]?.version ?? 0;
  }

  /** Rooms that have left do mode (flushed and inactive). */
  async roomsLeft(names: string[]): Promise<void> {
    this.ctx.storage.transactionSync(() => {
      for (const name of names) this.sql.exec(`DELETE FROM do_rooms WHERE name = ?`, name);
    });
  }

  /** Up to `limit` rooms in do mode that `next` puts in kv mode, and whether more remain. */
  async roomsLeaving(next: Flags, limit: number): Promise<{ rooms: string[]; more: boolean }> {
    const rooms: string[] = [];
    let after = "";
    for (;;) {
      const page = this.sql.exec<{ name: string }>(`SELECT name FROM do_rooms WHERE name > ? ORDER BY name LIMIT 1000`, after).toArray();
      for (const { name } of page) {
        if (resolveMode(next, name) !== "kv") continue;
        if (rooms.length === limit) return { rooms, more: true };
        rooms.push(name);
      }
      if (page.length < 1000) return { rooms, more: false };
      after = page.at(-1)!.name;
    }
  }

  /** Applies a batch of events in one transaction (see stats-batch.ts). */
  async record(events: StatEvent[]): Promise<void> {
    // With roomEntered, the only calls on the message path (flips and operator reads are not counted).
    this.usageCounts.count("requests");
    this.ctx.storage.transactionSync(() => {
      for (const event of events) this.apply(event);
    });
  }

  private apply(event: StatEvent): void {
    const sql = this.sql;
    const bump = (name: string, by = 1) =>
      sql.exec(`INSERT INTO counters (mode, name, value) VALUES (?, ?, ?) ON CONFLICT (mode, name) DO UPDATE SET value = value + excluded.value`, event.mode, name, by);
    if (event.type === "usage") {
      for (const name of KV_COUNT_NAMES) if (event.kv[name]) bump(`worker.${name}`, event.kv[name]);
      return;
    }
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

  /** This object's own billed operations since it woke, and the Worker's KV operations (kept in `counters`). */
  async usage(): Promise<UsageReport> {
    const worker = { kv: noKvCounts(), do: noKvCounts(), none: noKvCounts() } satisfies WorkerUsage;
    const rows = this.sql.exec<{ mode: keyof WorkerUsage; name: string; value: number }>(`SELECT mode, name, value FROM counters WHERE name LIKE 'worker.%'`).toArray();
    for (const { mode, name, value } of rows) {
      const key = name.slice("worker.".length) as keyof typeof worker.kv;
      if (worker[mode] && key in worker[mode]) worker[mode][key] = value;
    }
    return { control: this.usageCounts.snapshot(), worker };
  }

  /** The counters; rooms: the do rooms this object lists (kv rooms are not counted: that would list every marker). */
  async stats(): Promise<StatsResponse> {
    const doRooms = this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM do_rooms`).one().n;
    const modes = {} as Record<CacheMode, ModeStats>;
    for (const mode of ["kv", "do"] as const) {
      const get = (name: string) =>
        this.sql.exec<{ value: number }>(`SELECT value FROM counters WHERE mode = ? AND name = ?`, mode, name).toArray()[0]?.value ?? 0;
      const readded = get("healsReadded");
      modes[mode] = {
        posts: get("posts"),
        humanPosts: get("humanPosts"),
        aiPosts: get("aiPosts"),
        healsRequested: get("healsRequested"),
        healsReadded: readded,
        healDelayMeanMs: readded ? Math.round(get("healDelayTotalMs") / readded) : 0,
        healDelayMaxMs: get("healDelayMaxMs"),
        rooms: mode === "do" ? doRooms : null,
      };
    }
    const timeline = this.sql
      .exec<{ minute: number; mode: CacheMode; requested: number; readded: number }>(`SELECT minute, mode, requested, readded FROM timeline ORDER BY minute`)
      .toArray();
    return { modes, timeline };
  }
}
