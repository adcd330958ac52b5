// SQL of the room's outbox: KV keys the room still owes a write. Synchronous, so a
// row can join the transaction of the change it reports.
export type OutboxRow = { key: string; version: number; queued_at: number; attempts: number };

/** Backoff after a failed put: 1 s, 2 s, 4 s … at most a minute. */
export const retryDelayMs = (attempts: number): number => Math.min(60_000, 1000 * 2 ** Math.max(0, attempts - 1));

export class Outbox {
  constructor(private readonly sql: SqlStorage) {}

  /** Queues (or re-queues, due now) a write of `key`. */
  enqueue(key: string, now: number): void {
    this.sql.exec(
      `INSERT INTO outbox (key, version, queued_at) VALUES (?, 1, ?)
       ON CONFLICT (key) DO UPDATE SET version = version + 1, attempts = 0, next_at = 0`,
      key, now,
    );
  }

  /** Rows due at `now` (every row when `now` is Infinity), oldest first. */
  due(now: number, limit: number): OutboxRow[] {
    const until = Number.isFinite(now) ? now : Number.MAX_SAFE_INTEGER;
    return this.sql
      .exec<OutboxRow>(`SELECT key, version, queued_at, attempts FROM outbox WHERE next_at <= ? ORDER BY queued_at LIMIT ?`, until, limit)
      .toArray();
  }

  /** The puts of these versions landed, in one statement; newer re-queues of their keys stay. */
  doneMany(rows: OutboxRow[]): void {
    if (!rows.length) return;
    this.sql.exec(
      `DELETE FROM outbox WHERE (key, version) IN (SELECT j.value ->> 0, j.value ->> 1 FROM json_each(?) j)`,
      JSON.stringify(rows.map((row) => [row.key, row.version])),
    );
  }

  /** The put failed: try again later, unless the key was re-queued meanwhile. */
  retryLater(row: OutboxRow, nextAt: number): void {
    this.sql.exec(`UPDATE outbox SET attempts = attempts + 1, next_at = ? WHERE key = ? AND version = ?`, nextAt, row.key, row.version);
  }

  pending(): number {
    return this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM outbox`).one().n;
  }

  /** When the earliest row is due, or null when nothing is owed. */
  nextDue(): number | null {
    return this.sql.exec<{ at: number | null }>(`SELECT MIN(next_at) AS at FROM outbox`).one().at;
  }
}
