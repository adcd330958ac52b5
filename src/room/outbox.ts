// How a do room's changes reach KV after the answer: each change marks its record owed in
// its own row (`kv_pos`), the flusher writes everything past the saved watermark right after
// the answer (the `outbox` table holds only the room marker and failed puts), and the
// `cache:<room>` mirror is rewritten by alarm, trailing the log by at most MIRROR_LAG_MS.
import { MAX_KV_BULK } from "../storage/records";
import { cacheKey, COMMENT_PREFIX, commentKey, idOfCommentKey, ROOM_PREFIX, roomKey } from "../shared/keys";
import { CACHE_SIZE, MIRROR_LAG_MS, toRecord, type Message } from "../shared/message";
import { recordExpiry } from "../limits/retention";
import { markerExpiry, markerNeedsRefresh, type RoomMarker } from "../shared/room-marker";
import type { OutboxRow, RoomState } from "./log";
import { SETTLED, type AlarmSchedule } from "./effects";

export type OutboxStats = { pending: number } & FlushStats;

export class KvSync {
  mirroredAt = 0;
  /** When the log first changed after the last mirror (null: the mirror is current). */
  private dirtySince: number | null = null;
  private readonly flusher: OutboxFlusher;

  constructor(
    private readonly state: RoomState,
    private readonly alarms: AlarmSchedule,
  ) {
    this.flusher = new OutboxFlusher(state, alarms, (now) => this.markerNow(now));
    // A rolled-back transaction leaves the marker bookkeeping as it was.
    state.onRollback(() => {
      const saved = this.marker;
      return () => (this.marker = saved);
    });
  }

  /**
   * KV writes are owed, all by one change (the marker is looked at once); the caller is inside its transaction. A
   * message's record is carried by its row (the log's `owed` flag sets `kv_pos`): here only the
   * backstop alarm and the room's marker (owed again when what it says changes). `opensPrompt`:
   * the change leaves a prompt open (a pending human message), so the room has work without asking.
   */
  owe(keys: string | readonly string[], now: number, opensPrompt = false): void {
    const { state } = this;
    for (const key of typeof keys === "string" ? [keys] : keys) {
      if (key.startsWith(COMMENT_PREFIX)) this.flusher.owedAt(key, now);
      else state.outbox.enqueue(key, now);
    }
    // The backstop alarm commits with the change, so a crash before the post-answer flush still ends
    // in a write; set for when the mirror wants it too, so one alarm serves both.
    void this.alarms.schedule(this.mirrorDueAt(now));
    if (!state.marked) {
      state.remember("marked", true);
      state.marked = true;
    }
    this.noteWork(now, opensPrompt);
  }

  /**
   * The room's marker (`room:<name>`) tells bots whether the room has open prompts and expires
   * unless the room stays active: it is owed again when that changes, or when its expiry comes
   * within a retention period. The caller is inside a transaction.
   */
  noteWork(now: number, opensPrompt = false): void {
    const { state } = this;
    // A room without tables holds nothing: its first write owes the marker.
    if (!state.schema) return;
    const work = opensPrompt || state.log.hasOpenPrompts();
    const marker = (this.marker ??= storedMarker(state.meta.get("marker")));
    const stale = markerNeedsRefresh(marker?.until ?? 0, now, state.limits.retentionMs);
    if (marker && marker.work === work && !stale) return;
    this.marker = { work, until: markerExpiry(now, state.limits.retentionMs) ?? 0 };
    state.meta.set("marker", JSON.stringify(this.marker));
    state.outbox.enqueue(roomKey(state.roomName), now);
  }

  /** What the marker last owed says (null: none owed yet), kept in memory (bookkeeping rows are read once). */
  private marker: { work: boolean; until: number } | null | undefined;

  /** The marker as it is written now: whether prompts are open, when it expires. */
  markerNow(now: number): { value: RoomMarker; expiration?: number } {
    const until = markerExpiry(now, this.state.limits.retentionMs);
    const work = this.state.schema && this.state.log.hasOpenPrompts();
    return { value: { work, ...(until ? { until } : {}) }, ...(until ? { expiration: Math.ceil(until / 1000) } : {}) };
  }

  /** After a committed change: let KV catch up without holding the answer. */
  changed(): void {
    if (this.state.active) {
      this.markDirty();
      void this.scheduleMirror();
    }
    this.flusher.kick();
  }

  /** The log changed outside a call (a restart, retention, a reconcile): the mirror is owed. */
  markDirty(): void {
    // A never-written room owns no mirror (and must not set an alarm).
    if (this.state.schema) this.dirtySince ??= Date.now();
  }

  /** When the mirror is due: MIRROR_LAG_MS after the first change it lacks (or after `now`). */
  private mirrorDueAt(now: number): number {
    return (this.dirtySince ?? now) + MIRROR_LAG_MS;
  }

  /** The alarm for the owed mirror, if one is owed. */
  scheduleMirror(): Promise<void> {
    return this.dirtySince === null ? SETTLED : this.alarms.schedule(this.mirrorDueAt(Date.now()));
  }

  /** The alarm's backstop flush: skipped while a post-answer flush runs (it takes every due row itself). */
  async flushOnAlarm(now: number): Promise<void> {
    if (!this.flusher.busy()) await this.flusher.flush(now, false);
  }

  flush(now: number, strict: boolean): Promise<void> {
    return this.flusher.flush(now, strict);
  }

  /** The alarm's part: the mirror if due; answers when the outbox and the mirror want the alarm next. */
  async onAlarm(): Promise<(number | null)[]> {
    const owned = this.state.active;
    // The alarm is set for the mirror's due time; one that runs earlier for another deadline takes it along.
    if (owned && this.dirtySince !== null) await this.writeMirror();
    const now = Date.now();
    const due = this.state.outbox.nextDue();
    return [
      // Rows due now are being flushed by the post-answer loop; check back on them in a while.
      due === null ? null : Math.max(due, now + RECHECK_OWED_MS),
      owned && this.dirtySince !== null ? this.mirrorDueAt(now) : null,
    ];
  }

  async writeMirror(): Promise<number> {
    const { state } = this;
    // A never-written room owns no mirror: whatever `cache:<room>` holds stays as it is.
    if (!state.roomName || !state.schema) return 0;
    // Clean before the put, so a change during it owes the next mirror.
    const dirtySince = this.dirtySince;
    this.mirroredAt = Date.now();
    this.dirtySince = null;
    const recent = state.view.newest(CACHE_SIZE);
    try {
      await state.kv.put(cacheKey(state.roomName), JSON.stringify(recent));
    } catch (err) {
      const earliest = Math.min(this.dirtySince ?? Infinity, dirtySince ?? Infinity);
      this.dirtySince = Number.isFinite(earliest) ? earliest : null;
      throw err;
    }
    return recent.length;
  }

  stats(): OutboxStats {
    return { pending: this.state.schema ? this.state.outbox.pending() : 0, ...this.flusher.stats() };
  }
}

/** The marker bookkeeping row: `{work, until}`, or null when this room never owed one with metadata. */
function storedMarker(row: string | null): { work: boolean; until: number } | null {
  if (!row) return null;
  const { work, until } = JSON.parse(row) as { work?: unknown; until?: unknown };
  return { work: work === true, until: typeof until === "number" ? until : 0 };
}

// ---- the flusher ----

// Writes what the room's outbox owes to KV: right after each answer (one flush at a
// time, picking up rows queued meanwhile) and from the alarm; failed puts go back with
// backoff. Counts what it did (written, lag, failures) for the operator.
export type FlushStats = { flushed: number; failures: number; lagMs: LagSummary };

/** Outbox rows due now are the post-answer flush's: the alarm looks at them again this much later. */
const RECHECK_OWED_MS = 1000;

/** Backoff after a failed put: 1 s, 2 s, 4 s … at most a minute. */
const retryDelayMs = (attempts: number): number => Math.min(60_000, 1000 * 2 ** Math.max(0, attempts - 1));

class OutboxFlusher {
  private running: Promise<void> | null = null;
  private readonly lag = new LagSamples();
  private flushed = 0;
  private failures = 0;
  private readonly owedSince = new Map<string, number>();

  constructor(
    private readonly state: RoomState,
    private readonly alarms: AlarmSchedule,
    private readonly marker: (now: number) => { value: RoomMarker; expiration?: number },
  ) {}

  /** Starts the post-answer flush unless one is running (it picks up new rows itself). */
  kick(): void {
    if (this.running) return;
    void this.flush(Date.now(), false).catch((err) =>
      console.log(JSON.stringify({ event: "outbox-error", room: this.state.roomName, error: String(err) })),
    );
  }

  /** A post-answer flush is running: it writes every due row, so the alarm need not wait for it. */
  busy(): boolean {
    return this.running !== null;
  }

  /** One flush at a time: a second caller waits for the running one, then flushes what is still due. */
  async flush(now: number, strict: boolean): Promise<void> {
    while (this.running) await this.running.catch(() => undefined);
    const run = this.flushDue(now, strict);
    const mine = run.then(
      () => undefined,
      () => undefined,
    );
    this.running = mine;
    try {
      await run;
    } finally {
      if (this.running === mine) this.running = null;
    }
  }

  stats(): FlushStats {
    return { flushed: this.flushed, failures: this.failures, lagMs: this.lag.summary() };
  }

  /** When each record was owed (in memory: the lag of a write owed before a restart is not sampled). */
  owedAt(key: string, now: number): void {
    if (!this.owedSince.has(key)) this.owedSince.set(key, now);
  }

  /**
   * Writes what is owed until nothing due is left: the table's due rows, then the records past
   * the watermark in batches; after each batch one transaction deletes the table rows written,
   * moves the watermark past the batch (one row) and queues failed puts for a retry with backoff.
   * With `strict`, throws if any put failed.
   */
  private async flushDue(now: number, strict: boolean): Promise<void> {
    const { state } = this;
    const { outbox } = state;
    if (!state.schema) return;
    let failed = 0;
    for (;;) {
      const rows = outbox.due(now, MAX_BATCH);
      // Past the watermark no change happened (the log keeps its position in memory): nothing is owed.
      if (!rows.length && outbox.kvPos() >= state.log.lastPos()) break;
      const { owed, upTo } = rows.length ? { owed: [], upTo: 0 } : state.log.owed(outbox.kvPos());
      const batch = owed.length > MAX_BATCH ? owed.slice(0, MAX_BATCH) : owed;
      // Every record owed up to here is in this batch (the rest were owed later).
      const watermark = batch.length < owed.length ? batch.at(-1)!.at : upTo;
      const owedRows: OutboxRow[] = batch.map(({ id }) => {
        const key = commentKey(state.roomName, id);
        return { key, version: 0, queued_at: this.owedSince.get(key) ?? now, attempts: 0 };
      });
      const all = rows.length ? [...rows, ...owedRows] : owedRows;
      if (!all.length) break;
      const keys = all.map((row) => row.key);
      // A batch is either the table's rows (read here) or owed records (read whole by owed()).
      const logged = rows.length
        ? state.log.getMany(keys.filter((key) => key.startsWith(COMMENT_PREFIX)).map(idOfCommentKey))
        : new Map(batch.map((o) => [o.id, o.message]));
      const find = (id: string) => logged.get(id) ?? null;
      // The room's KV binding is looked up on every batch: fault-injection tests swap it.
      // Records owed since before this wake may be in KV already: those are compared before a put.
      const { recheckUpTo } = state.log.cursors();
      const rechecked = batch.filter((o) => o.at <= recheckUpTo);
      const recheck = rechecked.length ? new Set(rechecked.map((o) => commentKey(state.roomName, o.id))) : NONE;
      const outcomes = await writeOwed(state.kv, keys, state.roomName, find, {
        retentionMs: state.limits.retentionMs,
        recheck,
        marker: this.marker,
      });
      const doneAt = Date.now();
      const failedAt = all.map((_, i) => outcomes[i] instanceof Error);
      // One transaction for the whole batch's bookkeeping: one commit, not one per row. Records that
      // all landed only move the watermark in memory: no transaction at all.
      const bookkeeping = rows.length > 0 || failedAt.some(Boolean);
      const settle = () => {
        outbox.doneMany(rows.filter((_, i) => !failedAt[i]));
        let earliest: number | null = null;
        all.forEach((row, i) => {
          if (!failedAt[i]) return;
          const nextAt = doneAt + retryDelayMs(row.attempts + 1);
          // A table row keeps its place; a record past the watermark becomes one.
          if (i < rows.length) outbox.retryLater(row, nextAt);
          else outbox.enqueue(row.key, row.queued_at, nextAt, 1);
          earliest = Math.min(earliest ?? nextAt, nextAt);
        });
        if (owedRows.length) {
          outbox.advance(watermark);
          state.log.flushedTo(outbox.kvPos());
        }
        return earliest;
      };
      const retryAt = bookkeeping ? state.transaction(settle) : settle();
      outcomes.forEach((outcome, i) => this.count(all[i]!, outcome, doneAt));
      for (const row of owedRows) this.owedSince.delete(row.key);
      if (retryAt !== null) await this.alarms.schedule(retryAt);
      failed += failedAt.filter(Boolean).length;
      // A failed row is due again at once when `now` is Infinity: stop rather than spin.
      if (strict && failed) break;
    }
    if (strict && failed) {
      throw new Error(`${failed} KV record(s) of room ${state.roomName} could not be written yet; retrying by alarm`);
    }
  }

  private count(row: OutboxRow, outcome: WriteOutcome | Error, doneAt: number): void {
    const room = this.state.roomName;
    if (outcome instanceof Error) {
      this.failures++;
      const attempts = row.attempts + 1;
      console.log(JSON.stringify({ event: "outbox-retry", room, key: row.key, attempts, error: String(outcome) }));
    } else if (outcome === "written" && row.key !== roomKey(room)) {
      this.flushed++;
      this.lag.add(doneAt - row.queued_at);
    }
  }
}

// ---- what an outbox key means as a KV write ----

// What outbox keys mean as KV writes: a message's record, or the room's marker. Record
// keys name their room (`comment:<room>:<id>`), so no other room's writer can hold one: a
// put needs no read first. Only records owed since before a restart are read (one bulk
// read), as they may have reached KV already.
/** "unchanged": KV already held the record as it is (re-read after a restart): no put, not counted as flushed. */
type WriteOutcome = "written" | "unchanged" | "gone";

/** No key to compare before its put: what almost every batch has. */
const NONE: ReadonlySet<string> = new Set();

/** A batch is read back with one bulk get: at most as many keys as KV takes. */
export const MAX_BATCH = MAX_KV_BULK;
/** Puts of one batch sent at once. */
const PUTS_IN_FLIGHT = 10;

/**
 * Writes each key; answers, per key, what happened or the error to retry on. Records expire
 * with their message (`retentionMs`); the room's marker is written as `marker` says now.
 */
async function writeOwed(
  kv: KVNamespace,
  keys: string[],
  room: string,
  find: (id: string) => Message | null,
  {
    retentionMs = 0,
    recheck = new Set(),
    marker = () => ({ value: {} }),
  }: {
    retentionMs?: number;
    /** Keys not put when KV holds them as they are. */
    recheck?: ReadonlySet<string>;
    /** The room marker as written now. */
    marker?: (now: number) => { value: RoomMarker; expiration?: number };
  } = {},
): Promise<(WriteOutcome | Error)[]> {
  // A key queued before records were kept per room (`comment:<id>`) is written to the room's own key.
  const target = (key: string) => (key.startsWith(COMMENT_PREFIX) ? commentKey(room, idOfCommentKey(key)) : key);
  const rechecked = recheck.size
    ? keys.filter((key) => key.startsWith(COMMENT_PREFIX) && recheck.has(target(key))).map(target)
    : [];
  let stored: Map<string, Message | null>;
  try {
    stored = rechecked.length ? await kv.get<Message>(rechecked, "json") : new Map();
  } catch (err) {
    return keys.map(() => asError(err));
  }
  const write = async (key: string): Promise<WriteOutcome | Error> => {
    try {
      if (key.startsWith(ROOM_PREFIX)) {
        // The metadata is what GET /api/bot/rooms reads from a listing, without a read per room.
        const { value, expiration } = marker(Date.now());
        await kv.put(key, JSON.stringify({ createdAt: Date.now() }), {
          metadata: value,
          ...(expiration ? { expiration } : {}),
        });
        return "written";
      }
      const message = find(idOfCommentKey(key));
      if (!message) return "gone";
      const record = JSON.stringify(toRecord(message));
      // Written before a restart, past the watermark the room saved, and there as it is: no second put.
      const existing = stored.get(target(key));
      if (existing && JSON.stringify(existing) === record) return "unchanged";
      await kv.put(target(key), record, recordExpiry(message.createdAt, retentionMs));
      return "written";
    } catch (err) {
      return asError(err);
    }
  };
  // A few puts at a time: a backlog of a hundred must not flood KV (locally, the process the room shares with it).
  const outcomes: (WriteOutcome | Error)[] = [];
  for (let i = 0; i < keys.length; i += PUTS_IN_FLIGHT) {
    outcomes.push(...(await Promise.all(keys.slice(i, i + PUTS_IN_FLIGHT).map(write))));
  }
  return outcomes;
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

// ---- lag ----

// How long KV records trail their messages: the newest samples of (put done − queued),
// kept in memory for the operator and the bench (a restart starts them afresh).
const KEEP = 20_000;

export type LagSummary = { p50: number; p99: number; max: number; samples: number };

class LagSamples {
  // A ring: adding is O(1) however many samples are kept.
  private readonly samples: number[] = [];
  private next = 0;

  add(ms: number): void {
    if (this.samples.length < KEEP) this.samples.push(ms);
    else this.samples[this.next] = ms;
    this.next = (this.next + 1) % KEEP;
  }

  summary(): LagSummary {
    const sorted = [...this.samples].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? 0, samples: sorted.length };
  }
}
