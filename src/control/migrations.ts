// The Control object's schema: migrations/control/NNNN_name.sql, applied by the shared runner.
import c0001 from "../../migrations/control/0001_control.sql";
import c0002 from "../../migrations/control/0002_deletions.sql";
import c0003 from "../../migrations/control/0003_stats_elsewhere.sql";
import c0004 from "../../migrations/control/0004_purges.sql";
import c0005 from "../../migrations/control/0005_bots.sql";
import c0008 from "../../migrations/control/0008_limits.sql";
import type { Migration } from "../storage/migrations";

export const CONTROL_MIGRATIONS: Migration[] = [
  { version: 1, name: "control", sql: c0001 },
  { version: 2, name: "deletions", sql: c0002 },
  { version: 3, name: "stats_elsewhere", sql: c0003 },
  { version: 4, name: "purges", sql: c0004 },
  { version: 5, name: "bots", sql: c0005 },
  { version: 8, name: "limits", sql: c0008 },
];
