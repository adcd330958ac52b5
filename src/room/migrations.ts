// Applies migrations/NNNN_name.sql in order, once each, recording the version in the DB.
import m0001 from "../../migrations/0001_messages.sql";
import m0002 from "../../migrations/0002_claims.sql";
import m0003 from "../../migrations/0003_outbox.sql";
import m0004 from "../../migrations/0004_change_position.sql";
import m0005 from "../../migrations/0005_created_at.sql";

export const MIGRATIONS: { version: number; name: string; sql: string }[] = [
  { version: 1, name: "messages", sql: m0001 },
  { version: 2, name: "claims", sql: m0002 },
  { version: 3, name: "outbox", sql: m0003 },
  { version: 4, name: "change_position", sql: m0004 },
  { version: 5, name: "created_at", sql: m0005 },
];

/** Whether this room's schema exists: a room is given one on its first write, never by a read. */
export function hasSchema(sql: SqlStorage): boolean {
  return sql.exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'`).toArray().length > 0;
}

export function applyMigrations(sql: SqlStorage): number {
  sql.exec(`CREATE TABLE IF NOT EXISTS _migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const row = sql.exec<{ v: number | null }>(`SELECT MAX(version) AS v FROM _migrations`).one();
  let current = row.v ?? 0;
  for (const migration of MIGRATIONS) {
    if (migration.version <= current) continue;
    sql.exec(migration.sql);
    sql.exec(`INSERT INTO _migrations (version, name, applied_at) VALUES (?, ?, ?)`, migration.version, migration.name, Date.now());
    current = migration.version;
  }
  return current;
}
