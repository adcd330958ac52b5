-- The local stand-in for the Analytics Engine dataset: the same data points, summed per
-- minute and (type, mode, kind) as they arrive, so a busy local room writes a few rows a
-- batch, not one per message. Columns as the SQL API queries read them (src/control/stats.ts).
CREATE TABLE buckets (
  minute INTEGER NOT NULL,
  type TEXT NOT NULL,
  mode TEXT NOT NULL,
  kind TEXT NOT NULL,
  events REAL NOT NULL,
  readded REAL NOT NULL,
  delay_total REAL NOT NULL,
  delay_max REAL NOT NULL,
  kv_reads REAL NOT NULL,
  kv_writes REAL NOT NULL,
  kv_deletes REAL NOT NULL,
  kv_lists REAL NOT NULL,
  PRIMARY KEY (minute, type, mode, kind)
) WITHOUT ROWID;
