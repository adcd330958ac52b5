// The SQL migration runner both Durable Objects use (the Room with migrations/*.sql, the
// Control object with migrations/control/*.sql): each migration applied once, in order,
// its version recorded in the object's own `_migrations` table.
export type Migration = { version: number; name: string; sql: string };

/** Whether the schema exists (the runner's bookkeeping table is there). */
export function hasSchema(sql: SqlStorage): boolean {
  return sql.exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'`).toArray().length > 0;
}

/** Applies the migrations newer than the recorded version; answers the version now in force. Call inside a transaction. */
export function applyMigrations(sql: SqlStorage, migrations: readonly Migration[]): number {
  sql.exec(
    `CREATE TABLE IF NOT EXISTS _migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
  );
  const row = sql.exec<{ v: number | null }>(`SELECT MAX(version) AS v FROM _migrations`).one();
  let current = row.v ?? 0;
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    sql.exec(migration.sql);
    sql.exec(
      `INSERT INTO _migrations (version, name, applied_at) VALUES (?, ?, ?)`,
      migration.version,
      migration.name,
      Date.now(),
    );
    current = migration.version;
  }
  return current;
}
