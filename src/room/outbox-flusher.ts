// Writes what the room's outbox owes to KV: right after each answer (one flush at a
// time, picking up rows queued meanwhile) and from the alarm; failed puts go back with
// backoff. Counts what it did (written, lag, failures, conflicts) for the operator.
import type { Message } from "../shared/message";
import { COMMENT_PREFIX, roomKey } from "../shared/keys";
import { MAX_BATCH, writeOwed, type WriteOutcome } from "./kv-writes";
import { LagSamples, type LagSummary } from "./lag";
import { retryDelayMs, type Outbox, type OutboxRow } from "./log";

export type FlusherDeps = {
  outbox: Outbox;
  /** read on every flush: fault-injection tests swap the room's KV */
  kv(): KVNamespace;
  room(): string;
  hasSchema(): boolean;
  /** the logged messages among these ids (one query per batch) */
  findMany(ids: string[]): Map<string, Message>;
  retentionMs(): number;
  transaction<T>(run: () => T): T;
  /** the room's alarm, for rows to retry later */
  retryAt(at: number): Promise<void>;
};

export type FlushStats = { flushed: number; failures: number; conflicts: number; lagMs: LagSummary };

export class OutboxFlusher {
  private running: Promise<void> | null = null;
  private readonly lag = new LagSamples();
  private flushed = 0;
  private failures = 0;
  private conflicts = 0;

  constructor(private readonly deps: FlusherDeps) {}

  /** Starts the post-answer flush unless one is running (it picks up new rows itself). */
  kick(): void {
    if (this.running) return;
    void this.flush(Date.now(), false).catch((err) =>
      console.log(JSON.stringify({ event: "outbox-error", room: this.deps.room(), error: String(err) })),
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
    return { flushed: this.flushed, failures: this.failures, conflicts: this.conflicts, lagMs: this.lag.summary() };
  }

  /** Writes due outbox rows until none is left; with `strict`, throws if any put failed. */
  private async flushDue(now: number, strict: boolean): Promise<void> {
    const { outbox, transaction } = this.deps;
    if (!this.deps.hasSchema()) return;
    let failed = 0;
    for (;;) {
      const rows = outbox.due(now, MAX_BATCH);
      if (!rows.length) break;
      const keys = rows.map((row) => row.key);
      const logged = this.deps.findMany(keys.filter((key) => key.startsWith(COMMENT_PREFIX)).map((key) => key.slice(COMMENT_PREFIX.length)));
      const outcomes = await writeOwed(this.deps.kv(), keys, this.deps.room(), (id) => logged.get(id) ?? null, this.deps.retentionMs());
      const doneAt = Date.now();
      // One transaction for the whole batch's bookkeeping: one commit, not one per row.
      const failedRows = rows.filter((_, i) => outcomes[i] instanceof Error);
      const retryAt = transaction(() => {
        outbox.doneMany(rows.filter((_, i) => !(outcomes[i] instanceof Error)));
        let earliest: number | null = null;
        for (const row of failedRows) {
          const nextAt = doneAt + retryDelayMs(row.attempts + 1);
          outbox.retryLater(row, nextAt);
          earliest = Math.min(earliest ?? nextAt, nextAt);
        }
        return earliest;
      });
      outcomes.forEach((outcome, i) => this.count(rows[i]!, outcome, doneAt));
      if (retryAt !== null) await this.deps.retryAt(retryAt);
      failed += failedRows.length;
      // A failed row is due again at once when `now` is Infinity: stop rather than spin.
      if (strict && failed) break;
    }
    if (strict && failed) throw new Error(`${failed} KV record(s) of room ${this.deps.room()} could not be written yet; retrying by alarm`);
  }

  private count(row: OutboxRow, outcome: WriteOutcome | Error, doneAt: number): void {
    const room = this.deps.room();
    if (outcome instanceof Error) {
      this.failures++;
      console.log(JSON.stringify({ event: "outbox-retry", room, key: row.key, attempts: row.attempts + 1, error: String(outcome) }));
    } else if (outcome === "conflict") {
      this.conflicts++;
      console.log(JSON.stringify({ event: "record-conflict", room, key: row.key, kept: "the other room's record" }));
    } else if (outcome === "written" && row.key !== roomKey(room)) {
      this.flushed++;
      this.lag.add(doneAt - row.queued_at);
    }
  }
}
