// The list of rooms in do mode, which a flip to kv must flush, split over REGISTRY_SHARDS
// objects by a hash of the room name, so that rooms entering do mode together (after a
// flip of many rooms) spread over the shards instead of queueing at one object. A room
// registers with its shard when its own resolved mode becomes do and it holds (or is about
// to hold) anything; it never calls on a message, a read, or a flag change that leaves it
// where it was.
//
// Each shard admits rooms with its own copy of the flag: the flag as of the last time it
// asked the Control object (only when a room arrives with a newer version than it knows),
// and the flip in progress, which the flip itself tells every shard before it lists the
// rooms to flush. So a room that a running flip moves to kv cannot slip in unlisted.
import { DurableObject } from "cloudflare:workers";
import { REGISTRY_SHARDS, registryShardOf, resolveMode, type Flags, type FlagsDocument } from "../shared/flags";
import type { UsageCounts } from "../shared/usage";
import { applyMigrations } from "../storage/migrations";
import { Usage } from "../storage/usage";
import r0001 from "../../migrations/registry/0001_registry.sql";
import type { PendingFlip } from "./control";

export const shardName = (shard: number) => `shard-${shard}`;
export const registryFor = (env: Env, room: string) => env.REGISTRY.getByName(shardName(registryShardOf(room)));
export const allShards = (env: Env) =>
  Array.from({ length: REGISTRY_SHARDS }, (_, i) => env.REGISTRY.getByName(shardName(i)));

export type Admission = { admitted: boolean; version: number };
/** One shard's part of a flip: up to `limit` of its rooms that `next` moves to kv, and how many there are in all. */
export type ShardLeaving = { rooms: string[]; total: number };

export class RoomRegistry extends DurableObject<Env> {
  private readonly usage = new Usage();
  private readonly sql: SqlStorage;
  private flags: FlagsDocument | null = null;
  private pending: PendingFlip | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = (this.sql = this.usage.countingSql(ctx.storage.sql));
    ctx.blockConcurrencyWhile(async () => {
      ctx.storage.transactionSync(() => applyMigrations(sql, [{ version: 1, name: "registry", sql: r0001 }]));
      const row = sql
        .exec<{ flags: string; pending: string | null }>(`SELECT flags, pending FROM flag_state WHERE id = 1`)
        .toArray()[0];
      if (row) {
        this.flags = JSON.parse(row.flags) as FlagsDocument;
        this.pending = row.pending ? (JSON.parse(row.pending) as PendingFlip) : null;
      }
    });
  }

  /**
   * A room asks to take do calls, as a call of flag version `version` put it in do mode.
   * Admitted only if the flag and any flip in progress both put it in do mode; either way it
   * learns the newest version this shard knows, so a refused room stays out of do mode
   * until a newer flag says otherwise.
   */
  async roomEntered(name: string, version: number): Promise<Admission> {
    this.usage.count("requests");
    if (!this.flags || version > this.flags.version) await this.refresh();
    const flags = this.flags!;
    const admitted =
      resolveMode(flags, name) === "do" && (!this.pending || resolveMode(this.pending.flags, name) === "do");
    if (admitted)
      this.sql.exec(`INSERT INTO do_rooms (name, since) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, Date.now());
    return { admitted, version: Math.max(flags.version, this.pending?.version ?? 0) };
  }

  /**
   * A flip begins (or resumes): from now on no room it moves to kv is admitted here, and
   * the rooms of this shard it must flush are listed.
   */
  async beginFlip(next: Flags, version: number, limit: number): Promise<ShardLeaving> {
    this.usage.count("requests");
    if (!this.flags) await this.refresh();
    this.merge(this.flags!, { flags: next, version });
    const rooms: string[] = [];
    let total = 0;
    for (const { name } of this.sql.exec<{ name: string }>(`SELECT name FROM do_rooms ORDER BY name`)) {
      if (resolveMode(next, name) !== "kv") continue;
      total++;
      if (rooms.length < limit) rooms.push(name);
    }
    return { rooms, total };
  }

  /** Rooms of this shard that have left do mode (flushed and inactive). */
  async roomsLeft(names: string[]): Promise<void> {
    this.usage.count("requests");
    this.ctx.storage.transactionSync(() => {
      for (const name of names) this.sql.exec(`DELETE FROM do_rooms WHERE name = ?`, name);
    });
  }

  /** Rooms this shard lists, and the calls it took since it woke (the operator page sums the shards). */
  async report(): Promise<{ rooms: number; usage: UsageCounts }> {
    const rooms = this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM do_rooms`).one().n;
    return { rooms, usage: this.usage.snapshot() };
  }

  /** The flag and any flip in progress, from the Control object: once per flag version at most. */
  private async refresh(): Promise<void> {
    const { flags, pending } = await this.env.CONTROL.getByName("global").flagState();
    this.merge(flags, pending);
  }

  /**
   * Keeps the newest of what it knew and what it hears: a refresh that was under way when a
   * flip began must not forget that flip. A flip is over once a flag at least as new is published.
   */
  private merge(flags: FlagsDocument, pending: PendingFlip | null): void {
    const newest = this.flags && this.flags.version > flags.version ? this.flags : flags;
    const flip = [this.pending, pending].reduce<PendingFlip | null>(
      (a, b) => (b && (!a || b.version > a.version) ? b : a),
      null,
    );
    const open = flip && flip.version > newest.version ? flip : null;
    const changed = newest !== this.flags || open?.version !== this.pending?.version;
    this.flags = newest;
    this.pending = open;
    if (!changed) return;
    this.sql.exec(
      `INSERT INTO flag_state (id, flags, pending) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET flags = excluded.flags, pending = excluded.pending`,
      JSON.stringify(newest),
      open ? JSON.stringify(open) : null,
    );
  }
}
