// How a do room's changes reach KV after the answer: each change queues its records in
// the outbox (in the change's transaction), the flusher writes them right after the
// answer, and the `cache:<room>` mirror is rewritten at most once a second, by alarm.
import { cacheKey, roomKey } from "../shared/keys";
import { CACHE_SIZE } from "../shared/message";
import type { AlarmSchedule } from "./alarms";
import { OutboxFlusher, type FlushStats } from "./outbox-flusher";
import type { RoomState } from "./log";

export const MIRROR_INTERVAL_MS = 1000;

export type OutboxStats = { pending: number } & FlushStats;

export class KvSync {
  mirroredAt = 0;
  private mirrorDirty = false;
  private readonly flusher: OutboxFlusher;

  constructor(private readonly state: RoomState, private readonly alarms: AlarmSchedule) {
    this.flusher = new OutboxFlusher({
      outbox: state.outbox,
      kv: () => state.kv,
      room: () => state.roomName,
      hasSchema: () => state.schema,
      findMany: (ids) => state.log.getMany(ids),
      retentionMs: () => state.limits.retentionMs,
      transaction: (run) => state.transaction(run),
      retryAt: (at) => alarms.schedule(at),
    });
  }

  /** Queues a KV write; the caller is inside the transaction of the change it reports. */
  owe(key: string, now: number): void {
    const { state } = this;
    state.outbox.enqueue(key, now);
    // The backstop alarm commits with the row, so a crash before the post-answer flush still ends in a write.
    void this.alarms.schedule(Math.max(now, this.mirroredAt) + MIRROR_INTERVAL_MS);
    if (!state.marked) {
      state.outbox.enqueue(roomKey(state.roomName), now);
      state.remember("marked", true);
      state.marked = true;
    }
  }

  /** After a committed change: let KV catch up without holding the answer. */
  changed(): void {
    if (this.state.active) {
      this.mirrorDirty = true;
      void this.scheduleMirror();
    }
    this.flusher.kick();
  }

  /** The log changed outside a call (a restart, retention, a reconcile): the mirror is owed. */
  markDirty(): void {
    this.mirrorDirty = true;
  }

  /** The alarm for the next mirror, a second after the last one. */
  scheduleMirror(): Promise<void> {
    return this.alarms.schedule(Math.max(Date.now(), this.mirroredAt + MIRROR_INTERVAL_MS));
  }

  /** The alarm's backstop flush: skipped while a post-answer flush runs (it takes every due row itself). */
  async flushOnAlarm(now: number): Promise<void> {
    if (!this.flusher.busy()) await this.flusher.flush(now, false);
  }

  flush(now: number, strict: boolean): Promise<void> {
    return this.flusher.flush(now, strict);
  }

  /** The alarm's part: the mirror if owed; answers when the outbox and the mirror want the alarm next. */
  async onAlarm(): Promise<(number | null)[]> {
    // Every alarm is set at least a second after the last mirror, so this keeps KV's one write a second per key.
    if (this.state.active && this.mirrorDirty) await this.writeMirror();
    const now = Date.now();
    const due = this.state.outbox.nextDue();
    return [
      // Rows due now are being flushed by the post-answer loop; check back on them in a while.
      due === null ? null : Math.max(due, now + MIRROR_INTERVAL_MS),
      this.state.active && this.mirrorDirty ? Math.max(now, this.mirroredAt + MIRROR_INTERVAL_MS) : null,
    ];
  }

  async writeMirror(): Promise<number> {
    const { state } = this;
    // A never-written room owns no mirror: whatever `cache:<room>` holds stays as it is.
    if (!state.roomName || !state.schema) return 0;
    // Stamped before the put so a change during it schedules the next mirror a second later.
    this.mirroredAt = Date.now();
    this.mirrorDirty = false;
    const recent = state.view.recent(CACHE_SIZE);
    try {
      await state.kv.put(cacheKey(state.roomName), JSON.stringify(recent));
    } catch (err) {
      this.mirrorDirty = true;
      throw err;
    }
    return recent.length;
  }

  stats(): OutboxStats {
    return { pending: this.state.schema ? this.state.outbox.pending() : 0, ...this.flusher.stats() };
  }
}
