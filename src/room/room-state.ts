// What every part of a room shares: its storage (the log, bookkeeping rows, the outbox),
// the KV it writes, its limits, and the bookkeeping kept in memory (loaded once on wake)
// so the hot path reads no bookkeeping rows. A room gets its tables on its first write;
// until then it keeps this state in memory only.
import { applyMigrations, hasSchema } from "../storage/migrations";
import type { Usage } from "../storage/usage";
import { roomLimits, type RoomLimits } from "../limits/retention";
import { EMPTY_LOG, Meta, RoomLog, type LogReader } from "./log";
import { MIGRATIONS } from "./migrations";
import { Outbox } from "./outbox";

export class RoomState {
  readonly sql: SqlStorage;
  readonly log: RoomLog;
  readonly meta: Meta;
  readonly outbox: Outbox;
  /** KV as this room writes it; a field so fault-injection tests can swap in a failing one. */
  kv: KVNamespace;
  /** ROOM_MAX_MESSAGES and ROOM_RETENTION_DAYS; a field so tests can set them for one room. */
  limits: RoomLimits;
  /** Whether the tables exist. */
  schema = false;
  /** `getByName` ids carry the name into the object (also on alarms and after eviction). */
  roomName: string;
  flagVersion = -1;
  active = false;
  /** The room's `room:<name>` record is owed or written. */
  marked = false;
  /** The Control object lists this room among the do rooms a flip must flush. */
  registered = false;

  constructor(readonly ctx: DurableObjectState, env: Env, usage: Usage) {
    // Every SQLite statement and KV call of the room is counted (the cost bench reads it via inspect).
    this.sql = usage.countingSql(ctx.storage.sql);
    this.kv = usage.countingKv(env.CHAT_KV);
    this.limits = roomLimits(env);
    this.roomName = ctx.id.name ?? "";
    this.meta = new Meta(this.sql);
    this.log = new RoomLog(this.sql, () => this.roomName);
    this.outbox = new Outbox(this.sql);
  }

  /** On wake: migrate and read the bookkeeping; false for a never-written room (a read or a socket must not create anything). */
  load(): boolean {
    this.schema = hasSchema(this.sql);
    if (!this.schema) return false;
    this.transaction(() => applyMigrations(this.sql, MIGRATIONS));
    this.roomName ||= this.meta.get("room") ?? "";
    this.flagVersion = Number(this.meta.get("flagVersion") ?? -1);
    this.active = this.flagVersion >= 0 && this.meta.get("active") !== "false";
    this.marked = this.meta.get("marked") === "true";
    this.registered = this.meta.get("registered") === "true";
    return true;
  }

  /**
   * One SQLite transaction. Memory the run changes (this state's bookkeeping, the log's
   * cached position and size, and whatever a part registers with `onRollback`) goes back to
   * what it was if the transaction rolls back, so memory never claims what storage lacks.
   */
  transaction<T>(run: () => T): T {
    const { flagVersion, active, marked, registered, roomName } = this;
    const restores = [this.log.save(), ...this.savers.map((save) => save())];
    try {
      return this.ctx.storage.transactionSync(run);
    } catch (err) {
      Object.assign(this, { flagVersion, active, marked, registered, roomName });
      for (const restore of restores) restore();
      throw err;
    }
  }

  /** `save` is called as each transaction starts; what it answers runs if that transaction rolls back. */
  onRollback(save: () => () => void): void {
    this.savers.push(save);
  }

  private readonly savers: (() => () => void)[] = [];

  /** The log to read: the real one once the room has tables, else an empty one. */
  get view(): LogReader {
    return this.schema ? this.log : EMPTY_LOG;
  }

  /** Keeps a bookkeeping value; a room without tables keeps it in memory until its first write. */
  remember(key: string, value: string | number | boolean): void {
    if (this.schema) this.meta.set(key, value);
  }

  setRoomName(room: string): void {
    if (!room || this.roomName === room) return;
    this.roomName = room;
    this.remember("room", room);
  }

  /** The first write gives the room its tables, and stores what it kept in memory until then. */
  ensureSchema(): void {
    if (this.schema) return;
    this.transaction(() => {
      applyMigrations(this.sql, MIGRATIONS);
      if (this.roomName) this.meta.set("room", this.roomName);
      this.meta.set("flagVersion", this.flagVersion);
      this.meta.set("active", this.active);
      this.meta.set("registered", this.registered);
    });
    this.schema = true;
  }
}
