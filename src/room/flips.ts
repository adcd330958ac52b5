// Which path a room's calls take, from the room's side: a do call enters here. Only a
// change of this room's own mode reaches beyond it: entering do mode (from kv, or its first
// write) registers the room with its registry shard and merges `cache:<room>` into the log;
// a newer flag that leaves the room in do mode changes nothing, and a never-written room's
// reads and sockets ask nobody. Leaving do mode flushes everything owed to KV first, so a
// room is never half-left.
import { cacheKey } from "../shared/keys";
import { readRecords } from "../storage/records";
import { CACHE_SIZE, inKvWindow, placedByTime, type Message } from "../shared/message";
import { storedMessageSchema } from "../shared/schemas";
import { registryFor } from "../control/registry";
import type { Usage } from "../storage/usage";
import { LEFT_DO_MODE, type RoomCall, type RoomRefusal } from "./calls";
import { MAX_BATCH } from "./outbox";
import type { KvSync } from "./outbox";
import type { RoomState } from "./log";
import type { AlarmSchedule, Broadcaster } from "./effects";
import type { LiveStreams } from "./streams";

export class Flips {
  /** A flip to kv in progress: calls wait for it, so their rerun on kv starts from the fresh mirror. */
  private leaving: Promise<number> | null = null;

  constructor(
    private readonly state: RoomState,
    private readonly kvSync: KvSync,
    private readonly streams: LiveStreams,
    private readonly pushes: Broadcaster,
    private readonly alarms: AlarmSchedule,
    private readonly usage: Usage,
    private readonly env: Env,
  ) {}

  /**
   * Admits a do-mode call. First use, or first use under a newer flag version: merge
   * `cache:<room>` into the log (the room may have been in kv mode) and own the mirror.
   * A room that has left do mode refuses, so the caller reruns the call on the kv path.
   */
  async enter(call: RoomCall, writes = false, request = true): Promise<RoomRefusal | null> {
    // Every RPC call on the message path enters here: one Durable Object request each (a
    // socket frame is counted as a message).
    if (request) this.usage.count("requests");
    await this.leftOrStayed();
    if (call.flagVersion > this.state.flagVersion) {
      // Already in do mode: a newer flag that still sends this room's calls here changed
      // nothing for it. Kept in memory only: after a restart the same check costs nothing again.
      if (this.state.active) this.state.flagVersion = call.flagVersion;
      else await this.reconcile(call);
    }
    // A room with tables registers on any call (also an active one its shard does not list
    // yet); a never-written room's reads leave no trace in any shared object.
    if ((writes || this.state.schema) && !(await this.admitWrites(call.room))) return LEFT_DO_MODE;
    return this.state.active ? null : LEFT_DO_MODE;
  }

  /** Before a do room holds anything a flip must flush: listed by its registry shard, or out of do mode. */
  async admitWrites(room: string): Promise<boolean> {
    await this.leftOrStayed();
    if (!this.state.active) return false;
    if (this.state.registered) return true;
    if (await this.register(room, this.state.flagVersion)) return true;
    await this.leaveDoMode({ room, flagVersion: this.state.flagVersion });
    return false;
  }

  /**
   * Asks the room's registry shard to list it among the do rooms a flip must flush,
   * before it holds anything. Refused when the flag (or a flip in progress) puts the
   * room in kv mode: a stale call must not pull a kv room back into do mode.
   */
  private async register(room: string, flagVersion: number): Promise<boolean> {
    const { admitted, version } = await registryFor(this.env, room).roomEntered(room, flagVersion);
    if (admitted) {
      this.state.registered = true;
      this.state.remember("registered", true);
    } else if (version > this.state.flagVersion) {
      this.state.flagVersion = version;
      this.state.remember("flagVersion", version);
    }
    return admitted;
  }

  private async reconcile(call: RoomCall): Promise<void> {
    let failure: unknown = null;
    await this.state.ctx.blockConcurrencyWhile(async () => {
      if (call.flagVersion <= this.state.flagVersion) return;
      try {
        const cached = await this.state.kv.get<unknown[]>(cacheKey(call.room), "json");
        const entries = Array.isArray(cached) ? cached : [];
        // A never-written room with nothing to merge takes do calls at once (its first write
        // registers it); anything else registers before it changes the log.
        if ((this.state.schema || entries.length > 0) && !(await this.register(call.room, call.flagVersion))) return;
        if (entries.length) this.state.ensureSchema();
        const finished = this.state.schema ? await this.finishedElsewhere() : [];
        const merged = this.merge(call, entries, finished);
        this.state.active = true;
        this.kvSync.markDirty();
        // The merge may have changed the log (statuses finished on the kv path) with no later
        // change to write the mirror.
        await this.kvSync.scheduleMirror();
        this.pushes.push({ type: "mode", mode: "do" });
        for (const message of merged) this.pushes.push({ type: "message", message });
      } catch (err) {
        // Thrown outside blockConcurrencyWhile, so one bad read fails this call, not the object.
        failure = err;
      }
    });
    if (failure) throw failure;
  }

  /**
   * Human messages this log still has open that the kv path finished meanwhile (their KV
   * record says complete or failed): the cache may no longer hold them, their record does.
   */
  private async finishedElsewhere(): Promise<Message[]> {
    const open = this.state.log.unfinishedHumanIds(MAX_BATCH * 5);
    const finished: Message[] = [];
    for (let i = 0; i < open.length; i += MAX_BATCH) {
      const records = await readRecords(this.state.kv, this.state.roomName, open.slice(i, i + MAX_BATCH));
      for (const record of records) {
        if (record && (record.status === "complete" || record.status === "failed")) finished.push(record);
      }
    }
    return finished;
  }

  /**
   * Adds valid cached entries missing from the log (tombstones as tombstones); invalid ones
   * are skipped and counted.
   */
  private merge(call: RoomCall, cached: unknown[], finishedElsewhere: Message[] = []): Message[] {
    const valid: Message[] = [];
    let skipped = 0;
    for (const entry of cached) {
      const parsed = storedMessageSchema.safeParse(entry);
      if (parsed.success && parsed.data.room === call.room) valid.push(parsed.data);
      else skipped++;
    }
    return this.state.transaction(() => {
      this.state.setRoomName(call.room);
      const merged: Message[] = [];
      for (const message of valid.sort((a, b) => a.createdAt - b.createdAt)) {
        // A kv-mode deletion: the log keeps (or becomes) its tombstone; the words never come back.
        if (message.deleted) {
          if (!this.state.log.get(message.id)?.deleted) {
            this.state.log.tombstone(message, message.deletedAt ?? Date.now());
          }
          continue;
        }
        const { message: logged, created } = this.state.log.insert(message);
        // A lease taken on the kv path survives the flip: its bot's answer is still its to give.
        const leased = created && message.status === "processing" && message.claimedBy && message.leaseUntil;
        if (leased) this.state.log.setClaim(message.id, message.claimedBy!, message.leaseUntil!);
        if (created) merged.push(leased ? this.state.log.get(message.id)! : logged);
        const finished = message.status === "complete" || message.status === "failed";
        if (!created && !logged.deleted && finished && logged.status !== message.status) {
          this.state.log.setStatus(message.id, message.status, message.error ?? null);
        }
      }
      // A merged reply answers its message even when the message itself was outside the cache's window.
      for (const reply of valid) {
        const human = reply.kind === "ai" && reply.replyTo ? this.state.log.get(reply.replyTo) : null;
        if (human && !human.deleted && human.status !== "complete") this.state.log.setStatus(human.id, "complete");
      }
      for (const record of finishedElsewhere) {
        const logged = this.state.log.get(record.id);
        if (logged && !logged.deleted && logged.status !== record.status) {
          this.state.log.setStatus(record.id, record.status, record.error ?? null);
        }
      }
      if (skipped) {
        this.state.meta.set("skippedOnReconcile", Number(this.state.meta.get("skippedOnReconcile") ?? 0) + skipped);
      }
      this.state.flagVersion = call.flagVersion;
      this.state.remember("flagVersion", call.flagVersion);
      this.state.remember("active", true);
      // Merged prompts are work the room marker must tell bots about.
      this.kvSync.noteWork(Date.now());
      return merged;
    });
  }

  /**
   * The room is leaving do mode: stop taking do calls, write every owed KV record, then
   * the mirror (if this room owns it) so kv writers start from a current `cache:<room>`.
   * If KV refuses, the room takes do calls again and the error goes back to the flip,
   * which then leaves the flag unchanged: a room is never half-left.
   */
  async leaveDoMode(call: RoomCall): Promise<number> {
    const leaving = this.leave(call);
    this.leaving = leaving;
    try {
      return await leaving;
    } finally {
      if (this.leaving === leaving) this.leaving = null;
    }
  }

  /**
   * A call that arrives while the room is leaving would be refused at once and rerun on kv,
   * where it would read `cache:<room>` before the mirror is written, and the mirror would then
   * overwrite it. So it waits until the room has left (or, if KV refused, stayed).
   */
  private async leftOrStayed(): Promise<void> {
    while (this.leaving) await this.leaving.catch(() => undefined);
  }

  private async leave(call: RoomCall): Promise<number> {
    const previous = { flagVersion: this.state.flagVersion, active: this.state.active };
    this.state.setRoomName(call.room);
    this.setMode(call.flagVersion, false);
    if (this.state.schema) this.streams.endAll();
    try {
      await this.kvSync.flush(Number.POSITIVE_INFINITY, true);
      // No change will carry the watermark while the room is in kv mode: saved here, so a wake owes nothing.
      if (this.state.schema) this.state.transaction(() => this.state.outbox.persist());
      const mirrored = previous.active ? await this.kvSync.writeMirror() : 0;
      if (previous.active && mirrored > 0) await this.guardMirror(Date.now());
      // The flip tells the registry; a later entry registers the room again.
      this.state.registered = false;
      this.state.remember("registered", false);
      return mirrored;
    } catch (err) {
      this.setMode(previous.flagVersion, previous.active);
      throw err;
    }
  }

  private setMode(flagVersion: number, active: boolean): void {
    this.state.flagVersion = flagVersion;
    this.state.active = active;
    this.state.remember("flagVersion", flagVersion);
    this.state.remember("active", active);
    this.pushes.push({ type: "mode", mode: active ? "do" : "kv" });
  }

  // ---- guarding the mirror after a flip to kv ----

  /**
   * After the flip, KV reads at other locations may still return `cache:<room>` from before
   * the mirror for up to a minute; a kv writer starting from one would drop the room's last
   * messages from the list. So the room looks again at these times after leaving, by alarm.
   */
  static readonly SWEEPS_AFTER_MS = [2_000, 10_000, 30_000, 65_000];

  private async guardMirror(now: number): Promise<void> {
    const due = Flips.SWEEPS_AFTER_MS.map((after) => now + after);
    this.state.remember("sweepsDue", JSON.stringify(due));
    await this.alarms.schedule(due[0]!);
  }

  /**
   * An alarm part: when a sweep is due, re-adds to `cache:<room>` the room's newest messages a
   * stale kv writer dropped (those still in the list's window, inKvWindow: others were pushed out
   * by newer messages, not lost), the way a heal re-adds one. The next sweep's time, or null when
   * none is left.
   */
  async sweep(now: number): Promise<number | null> {
    if (this.state.active) return null;
    const due = JSON.parse(this.state.meta.get("sweepsDue") ?? "[]") as number[];
    if (!due.length) return null;
    if (due[0]! > now) return due[0]!;
    const rest = due.filter((at) => at > now);
    const key = cacheKey(this.state.roomName);
    const cached = (await this.state.kv.get<Message[]>(key, "json")) ?? [];
    const listed = new Set(cached.map((m) => m.id));
    const missing = this.state.view
      .newest(CACHE_SIZE)
      .filter((m) => !listed.has(m.id) && inKvWindow(cached, m.createdAt));
    if (missing.length) {
      await this.state.kv.put(key, JSON.stringify(placedByTime(cached, missing)));
      this.sweepReadded += missing.length;
    }
    this.state.remember("sweepsDue", JSON.stringify(rest));
    return rest[0] ?? null;
  }

  /** Messages the sweeps re-added since the room woke (the operator's room view shows it). */
  sweepReadded = 0;
}
