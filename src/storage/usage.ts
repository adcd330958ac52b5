// Counts what a Durable Object (or one Worker request) spends, in billed units: SQLite rows
// read and written (from each cursor's own counters), KV operations (per key, a bulk read
// included), requests, socket messages and alarms. Wrappers, so the code that spends does not change.
import { noKvCounts, type KvCounts, type UsageCounts } from "../shared/usage";

/** Counts of nothing yet, since `since`. */
function noUsage(since: number): UsageCounts {
  return {
    since,
    requests: 0,
    socketMessages: 0,
    alarms: 0,
    alarmsSet: 0,
    sqlRowsRead: 0,
    sqlRowsWritten: 0,
    ...noKvCounts(),
  };
}

/** Rows written by the statements on one table: `rows` counts its index entries too, `statements` the writing ones. */
export type TableWrites = { rows: number; statements: number };

export class Usage {
  private readonly counts: UsageCounts = noUsage(Date.now());
  /** The latest cursor: its rows are added when the next statement runs (by then it has been read), or in a snapshot. */
  private open: SqlStorageCursor<Record<string, SqlStorageValue>> | null = null;
  private openQuery = "";
  /** Rows written, by the table each statement writes (the rows bench splits a change by it). */
  private readonly byTable = new Map<string, TableWrites>();

  count(name: "requests" | "socketMessages" | "alarms" | "alarmsSet"): void {
    this.counts[name]++;
  }

  snapshot(): UsageCounts {
    const { sqlRowsRead, sqlRowsWritten } = this.counts;
    return {
      ...this.counts,
      sqlRowsRead: sqlRowsRead + (this.open?.rowsRead ?? 0),
      sqlRowsWritten: sqlRowsWritten + (this.open?.rowsWritten ?? 0),
    };
  }

  kv(): KvCounts {
    const { kvReads, kvWrites, kvDeletes, kvLists } = this.counts;
    return { kvReads, kvWrites, kvDeletes, kvLists };
  }

  /** Rows written since the object woke, by table (the statement still open included). */
  writesByTable(): Record<string, TableWrites> {
    const tables = Object.fromEntries([...this.byTable].map(([table, writes]) => [table, { ...writes }]));
    const open = this.open?.rowsWritten ?? 0;
    if (open) {
      const table = (tables[writtenTable(this.openQuery)] ??= { rows: 0, statements: 0 });
      table.rows += open;
      table.statements++;
    }
    return tables;
  }

  private settle(): void {
    if (!this.open) return;
    const { rowsRead, rowsWritten } = this.open;
    this.counts.sqlRowsRead += rowsRead;
    this.counts.sqlRowsWritten += rowsWritten;
    if (rowsWritten) {
      const table = writtenTable(this.openQuery);
      const writes = this.byTable.get(table) ?? { rows: 0, statements: 0 };
      writes.rows += rowsWritten;
      writes.statements++;
      this.byTable.set(table, writes);
    }
    this.open = null;
  }

  /** `sql` whose every statement is counted. */
  countingSql(sql: SqlStorage): SqlStorage {
    const exec = (query: string, ...bindings: unknown[]) => {
      this.settle();
      const cursor = sql.exec(query, ...bindings);
      this.open = cursor;
      this.openQuery = query;
      return cursor;
    };
    return forward(sql, { exec });
  }

  /** `kv` whose every operation is counted (KV bills a bulk read per key). */
  countingKv(kv: KVNamespace): KVNamespace {
    const reads = (key: unknown) => (this.counts.kvReads += Array.isArray(key) ? key.length : 1);
    return forward(kv, {
      get: (key: unknown, ...rest: unknown[]) => (reads(key), (kv.get as (...a: unknown[]) => unknown)(key, ...rest)),
      getWithMetadata: (key: unknown, ...rest: unknown[]) => (
        reads(key),
        (kv.getWithMetadata as (...a: unknown[]) => unknown)(key, ...rest)
      ),
      put: (...args: Parameters<KVNamespace["put"]>) => (this.counts.kvWrites++, kv.put(...args)),
      delete: (key: string) => (this.counts.kvDeletes++, kv.delete(key)),
      list: (...args: Parameters<KVNamespace["list"]>) => (this.counts.kvLists++, kv.list(...args)),
    });
  }
}

/** The table a writing statement writes (parsed only for statements that wrote, then remembered). */
const tableOf = new Map<string, string>();
function writtenTable(query: string): string {
  let table = tableOf.get(query);
  if (table === undefined) {
    table =
      /\b(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM|REPLACE\s+INTO)\s+(\w+)/i.exec(query)?.[1] ?? "other";
    tableOf.set(query, table);
  }
  return table;
}

/** `target` with some methods replaced; everything else reaches the original, bound to it. */
function forward<T extends object>(target: T, replaced: Record<string, unknown>): T {
  return new Proxy(target, {
    get(object, prop) {
      if (typeof prop === "string" && prop in replaced) return replaced[prop];
      const value = Reflect.get(object, prop, object) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(object) : value;
    },
  });
}

/** Several objects' counts added up; `since` is the earliest. */
export function sumUsage(counts: UsageCounts[]): UsageCounts {
  const total = noUsage(Math.min(...counts.map((c) => c.since)));
  for (const c of counts)
    for (const key of Object.keys(total) as (keyof UsageCounts)[]) if (key !== "since") total[key] += c[key];
  return total;
}
