// The Room's schema: migrations/NNNN_name.sql, applied by the shared runner (src/storage/migrations.ts).
import m0001 from "../../migrations/0001_messages.sql";
import m0002 from "../../migrations/0002_claims.sql";
import m0003 from "../../migrations/0003_outbox.sql";
import m0004 from "../../migrations/0004_change_position.sql";
import m0005 from "../../migrations/0005_created_at.sql";
import m0006 from "../../migrations/0006_tombstones.sql";
import m0007 from "../../migrations/0007_streams.sql";
import m0008 from "../../migrations/0008_outbox_lean.sql";
import type { Migration } from "../storage/migrations";

export const MIGRATIONS: Migration[] = [
  { version: 1, name: "messages", sql: m0001 },
  { version: 2, name: "claims", sql: m0002 },
  { version: 3, name: "outbox", sql: m0003 },
  { version: 4, name: "change_position", sql: m0004 },
  { version: 5, name: "created_at", sql: m0005 },
  { version: 6, name: "tombstones", sql: m0006 },
  { version: 7, name: "streams", sql: m0007 },
  { version: 8, name: "outbox_lean", sql: m0008 },
];
