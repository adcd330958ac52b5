// The Control Durable Object (one, named "global"): the flag's source of truth with its
// audit trail, and the operator's deletion audit. Nothing on the message path calls it:
// stats go to Analytics Engine (stats.ts), the list of do rooms lives in the registry
// shards (registry.ts), which ask it for the flag once per flag version each.
import { DurableObject } from "cloudflare:workers";
import type { DeletionAuditEntry, FlagsResponse, LimitAuditEntry, PurgeAuditEntry } from "../shared/api";
import { defaultFlags, resolveMode, type Flags, type FlagsDocument } from "../shared/flags";
import { FLAGS_KEY } from "../shared/keys";
import { applyMigrations } from "../storage/migrations";
import { CONTROL_MIGRATIONS } from "./migrations";
import { Usage } from "../storage/usage";
import type { UsageCounts } from "../shared/usage";
import { servesRoom, type BotDirectory, type BotInfo } from "../shared/bots";
import { BotBook } from "./bots";

/** Rooms told about a bot change, and those that could not be told (the same operator action again tells them). */
export type BotsPushed = { pushed: string[]; failed: string[] };

export const AUDIT_LIMIT = 50;
/** Deletions the audit keeps (newest): moderation is more frequent than flag changes. */
export const DELETION_AUDIT_LIMIT = 500;
/** Purges the audit keeps (newest). */
export const PURGE_AUDIT_LIMIT = AUDIT_LIMIT;

/** A flip under way: the flag it will publish, under the version reserved for it. */
export type PendingFlip = { flags: Flags; version: number };

export class Control extends DurableObject<Env> {
  private readonly usageCounts = new Usage();
  /** Every call and statement counted: the bench reads what this object does per message. */
  private readonly sql: SqlStorage;
  private readonly bots: BotBook;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = (this.sql = this.usageCounts.countingSql(ctx.storage.sql));
    this.bots = new BotBook(sql);
    ctx.blockConcurrencyWhile(async () => {
      ctx.storage.transactionSync(() => applyMigrations(sql, CONTROL_MIGRATIONS));
    });
  }

  async getFlags(): Promise<FlagsResponse> {
    this.usageCounts.count("requests");
    const audit = this.sql
      .exec<{ at: number; who: string; before: string; after: string }>(
        `SELECT * FROM audit ORDER BY at DESC, rowid DESC`,
      )
      .toArray()
      .map((r) => ({
        at: r.at,
        who: r.who,
        before: JSON.parse(r.before) as Flags,
        after: JSON.parse(r.after) as Flags,
      }));
    const deletions = this.sql
      .exec<DeletionAuditEntry>(`SELECT at, who, room, id, kind FROM deletions ORDER BY at DESC, rowid DESC`)
      .toArray()
      .map((r) => ({ ...r }));
    const purges = this.sql
      .exec<{ at: number; who: string; room: string; before: number | null; tombstones: number; removed: number }>(
        `SELECT at, who, room, before, tombstones, removed FROM purges ORDER BY at DESC, rowid DESC`,
      )
      .toArray()
      .map((r) => ({ ...r, tombstones: r.tombstones === 1 }));
    const limits = this.sql
      .exec<LimitAuditEntry>(`SELECT at, who, room, before, after FROM limits ORDER BY at DESC, rowid DESC`)
      .toArray()
      .map((r) => ({ ...r }));
    return { flags: this.flag(), audit, deletions, purges, limits };
  }

  private flag(): FlagsDocument {
    const row = this.sql.exec<{ doc: string }>(`SELECT doc FROM flags WHERE id = 1`).toArray()[0];
    return row ? (JSON.parse(row.doc) as FlagsDocument) : defaultFlags(this.env.CACHE_MODE);
  }

  /** What a registry shard admits rooms by: the flag, and the flip under way if any. Reads two rows. */
  async flagState(): Promise<{ flags: FlagsDocument; pending: PendingFlip | null }> {
    this.usageCounts.count("requests");
    const row = this.sql.exec<{ flags: string }>(`SELECT flags FROM pending_flip WHERE id = 1`).toArray()[0];
    return {
      flags: this.flag(),
      pending: row ? { flags: JSON.parse(row.flags) as Flags, version: this.reserved() } : null,
    };
  }

  /**
   * Audits an operator deletion, once per message: the Worker records every answer to a
   * DELETE, so a retry after a failed record still leaves its entry, and a repeat none.
   */
  async recordDeletion(entry: DeletionAuditEntry): Promise<void> {
    this.usageCounts.count("requests");
    this.ctx.storage.transactionSync(() => {
      this.sql.exec(
        `INSERT INTO deletions (room, id, kind, at, who) VALUES (?, ?, ?, ?, ?) ON CONFLICT (room, id) DO NOTHING`,
        entry.room,
        entry.id,
        entry.kind,
        entry.at,
        entry.who,
      );
      this.keepNewest("deletions", DELETION_AUDIT_LIMIT);
    });
  }

  /** Audits an operator purge: each purge is its own entry (a repeat that removed nothing is recorded too). */
  async recordPurge(entry: PurgeAuditEntry): Promise<void> {
    this.usageCounts.count("requests");
    this.ctx.storage.transactionSync(() => {
      this.sql.exec(
        `INSERT INTO purges (room, at, who, before, tombstones, removed) VALUES (?, ?, ?, ?, ?, ?)`,
        entry.room,
        entry.at,
        entry.who,
        entry.before,
        entry.tombstones ? 1 : 0,
        entry.removed,
      );
      this.keepNewest("purges", PURGE_AUDIT_LIMIT);
    });
  }

  /** Audits an operator's change of one room's cap; the newest AUDIT_LIMIT are kept. */
  async recordLimit(entry: LimitAuditEntry): Promise<void> {
    this.usageCounts.count("requests");
    this.ctx.storage.transactionSync(() => {
      this.sql.exec(
        `INSERT INTO limits (room, at, who, before, after) VALUES (?, ?, ?, ?, ?)`,
        entry.room,
        entry.at,
        entry.who,
        entry.before,
        entry.after,
      );
      this.keepNewest("limits", AUDIT_LIMIT);
    });
  }

  /** An audit table keeps its newest `limit` entries: older ones go as a new one comes. */
  private keepNewest(table: "audit" | "deletions" | "purges" | "limits", limit: number): void {
    this.sql.exec(
      `DELETE FROM ${table} WHERE rowid NOT IN (SELECT rowid FROM ${table} ORDER BY at DESC, rowid DESC LIMIT ?)`,
      limit,
    );
  }

  /** Replaces the flag, audits the change and publishes it to KV `flags` for the Worker to read. */
  async setFlags(next: Flags, who: string): Promise<{ before: FlagsDocument; after: FlagsDocument }> {
    this.usageCounts.count("requests");
    const before = this.flag();
    const now = Date.now();
    const after: FlagsDocument = {
      ...next,
      version: Math.max(before.version + 1, this.reserved()),
      updatedAt: now,
      updatedBy: who,
    };
    const strip = ({ defaultMode, doPercent, rooms }: Flags): Flags => ({ defaultMode, doPercent, rooms });
    this.ctx.storage.transactionSync(() => {
      this.sql.exec(`INSERT OR REPLACE INTO flags (id, doc) VALUES (1, ?)`, JSON.stringify(after));
      this.sql.exec(`DELETE FROM pending_flip`);
      this.sql.exec(
        `INSERT INTO audit (at, who, before, after) VALUES (?, ?, ?, ?)`,
        now,
        who,
        JSON.stringify(strip(before)),
        JSON.stringify(strip(after)),
      );
      this.keepNewest("audit", AUDIT_LIMIT);
    });
    await this.env.CHAT_KV.put(FLAGS_KEY, JSON.stringify(after));
    return { before, after };
  }

  // ---- flips ----

  /**
   * A fresh flag version for one flip attempt: rooms it flushes are stamped with it, and
   * the flag it publishes is at least it. An abandoned attempt's version is never reused,
   * so a later flag always reaches those rooms as newer.
   */
  async reserveVersion(next: Flags): Promise<number> {
    this.usageCounts.count("requests");
    const flags = this.flag();
    const version = Math.max(flags.version, this.reserved()) + 1;
    this.ctx.storage.transactionSync(() => {
      this.sql.exec(
        `INSERT INTO reserved_version (id, version) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET version = excluded.version`,
        version,
      );
      // While this flip runs, a room it would move to kv may not enter do mode (roomEntered).
      this.sql.exec(
        `INSERT INTO pending_flip (id, flags) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET flags = excluded.flags`,
        JSON.stringify(next),
      );
    });
    return version;
  }

  private reserved(): number {
    return (
      this.sql.exec<{ version: number }>(`SELECT version FROM reserved_version WHERE id = 1`).toArray()[0]?.version ?? 0
    );
  }

  // Rooms listed here registered before the registry shards held the list: a flip still
  // flushes them, and no room is added here any more.

  /** Rooms that have left do mode (flushed and inactive). */
  async roomsLeft(names: string[]): Promise<void> {
    this.usageCounts.count("requests");
    this.ctx.storage.transactionSync(() => {
      for (const name of names) this.sql.exec(`DELETE FROM do_rooms WHERE name = ?`, name);
    });
  }

  /** Up to `limit` rooms in do mode that `next` puts in kv mode, and whether more remain. */
  async roomsLeaving(next: Flags, limit: number): Promise<{ rooms: string[]; more: boolean }> {
    this.usageCounts.count("requests");
    const rooms: string[] = [];
    let after = "";
    for (;;) {
      const page = this.sql
        .exec<{ name: string }>(`SELECT name FROM do_rooms WHERE name > ? ORDER BY name LIMIT 1000`, after)
        .toArray();
      for (const { name } of page) {
        if (resolveMode(next, name) !== "kv") continue;
        if (rooms.length === limit) return { rooms, more: true };
        rooms.push(name);
      }
      if (page.length < 1000) return { rooms, more: false };
      after = page.at(-1)!.name;
    }
  }

  // ---- bots (operator actions, rare; the Worker caches the book, rooms get their part pushed) ----

  async botDirectory(): Promise<BotDirectory> {
    this.usageCounts.count("requests");
    return this.bots.directory();
  }

  /** null when the name is taken. */
  async createBot(bot: Omit<BotInfo, "rotatedAt">, tokenHash: string): Promise<BotsPushed | null> {
    this.usageCounts.count("requests");
    const created = this.ctx.storage.transactionSync(() => this.bots.create(bot, tokenHash));
    return created ? this.pushRoomBots(this.bots.roomsOf(this.bots.get(bot.name)!)) : null;
  }

  /** False when there is no such bot. The old token stops working at once in the isolate that rotated it, within BOT_BOOK_TTL_MS elsewhere. */
  async rotateBot(name: string, tokenHash: string): Promise<boolean> {
    this.usageCounts.count("requests");
    return this.ctx.storage.transactionSync(() => this.bots.rotate(name, tokenHash, Date.now()));
  }

  async revokeBot(name: string): Promise<BotsPushed | null> {
    this.usageCounts.count("requests");
    const rooms = this.ctx.storage.transactionSync(() => this.bots.revoke(name));
    return rooms ? this.pushRoomBots(rooms) : null;
  }

  /** Sets (or with null clears) a room's default bot; an unknown bot or one not serving the room is an error. */
  async setRoomDefault(room: string, bot: string | null): Promise<BotsPushed | { error: string }> {
    this.usageCounts.count("requests");
    if (bot !== null) {
      const entry = this.bots.get(bot);
      if (!entry) return { error: `no bot named ${bot}` };
      if (!servesRoom(entry.rooms, room)) return { error: `${bot} does not serve ${room}` };
    }
    this.ctx.storage.transactionSync(() => this.bots.setDefault(room, bot));
    return this.pushRoomBots([room]);
  }

  /** Tells each room its bots and default (a call per room, on operator actions only). */
  private async pushRoomBots(rooms: string[]): Promise<BotsPushed> {
    const directory = this.bots.directory();
    const results = await Promise.allSettled(
      rooms.map((room) => this.env.ROOM.getByName(room).configureBots(this.bots.roomBots(room, directory))),
    );
    const failed = rooms.filter((_, i) => results[i]!.status === "rejected");
    return { pushed: rooms.filter((room) => !failed.includes(room)), failed };
  }

  /** This object's own billed operations since it woke (the bench reads its calls and rows per message). */
  async usage(): Promise<UsageCounts> {
    return this.usageCounts.snapshot();
  }

  /** Rooms still listed here from before the registry shards. */
  async legacyRooms(): Promise<number> {
    return this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM do_rooms`).one().n;
  }
}
