// The fast seeding route for a long room history: rows written straight into the
// Room Durable Object's SQLite file of a *stopped* local `wrangler dev` (same schema,
// created by the DO's own migrations when the room was first used). Only for
// benchmarks: it skips the API (and the per-message KV records), so it proves
// nothing about writes, only gives the reads a realistic log to work on.
import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { newMessageId } from "../../src/shared/message";

/** node:sqlite, loaded on first use: it prints an "experimental" warning when loaded. */
function sqlite(): typeof import("node:sqlite") {
  return createRequire(import.meta.url)("node:sqlite") as typeof import("node:sqlite");
}

/** The Room DO's SQLite file for `room` under a wrangler `--persist-to` directory. */
export function roomDatabaseFile(persistTo: string, room: string): string {
  const doDir = join(persistTo, "v3", "do");
  const classDirs = existsSync(doDir) ? readdirSync(doDir).filter((d) => d.endsWith("-Room")) : [];
  for (const dir of classDirs) {
    for (const file of readdirSync(join(doDir, dir)).filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite")) {
      const path = join(doDir, dir, file);
      const db = new (sqlite().DatabaseSync)(path, { readOnly: true });
      try {
        const hasMeta = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).get();
        const row = hasMeta
          ? (db.prepare(`SELECT value FROM meta WHERE key = 'room'`).get() as { value?: string } | undefined)
          : undefined;
        if (row?.value === room) return path;
      } finally {
        db.close();
      }
    }
  }
  throw new Error(
    `no Room Durable Object file for room ${room} under ${doDir}: post to the room (in do mode) before seeding`,
  );
}

/** Appends `count` finished messages (human, AI reply, human, …) to the room's log. Returns the new last seq. */
export function appendHistory(file: string, count: number, endAt = Date.now()): number {
  const db = new (sqlite().DatabaseSync)(file);
  try {
    const insert = db.prepare(
      `INSERT INTO messages (id, kind, author, text, reply_to, status, created_at, error) VALUES (?, ?, ?, ?, ?, 'complete', ?, NULL)`,
    );
    db.exec("BEGIN");
    const seqBefore = (db.prepare(`SELECT COALESCE(MAX(seq), 0) AS s FROM messages`).get() as { s: number }).s;
    let lastHuman = "";
    for (let i = 0; i < count; i++) {
      const createdAt = endAt - (count - i) * 1_000;
      const id = newMessageId(createdAt);
      if (i % 2 === 0) {
        insert.run(
          id,
          "human",
          `person ${i % 17}`,
          `history message ${i}: what do you think about message ${i - 2}?`,
          null,
          createdAt,
        );
        lastHuman = id;
      } else {
        insert.run(
          id,
          "ai",
          "bot (offline)",
          `reply ${i}: a short answer to the question above.`,
          lastHuman,
          createdAt,
        );
      }
    }
    // Each appended message is also the room's newest change (migrations/0004_change_position.sql).
    db.exec("UPDATE messages SET pos = seq WHERE pos = 0");
    // Seq ranges for retention and the mirror (migrations/0010_lean_rows.sql): a range starts every 64
    // appended messages, at the newest creation time logged before it (the rule the mirror reads them by).
    const rows = db.prepare(`SELECT seq, created_at FROM messages ORDER BY seq`).all() as {
      seq: number;
      created_at: number;
    }[];
    const mark = db.prepare(
      `INSERT INTO retention_marks (first_seq, started_at, oldest_created_at) VALUES (?, ?, ?)
       ON CONFLICT (first_seq) DO NOTHING`,
    );
    let newestBefore = 0;
    rows.forEach((row, i) => {
      if (row.seq > seqBefore && (row.seq - seqBefore - 1) % 64 === 0) {
        const range = rows.slice(i, i + 64).map((r) => r.created_at);
        mark.run(row.seq, newestBefore, Math.min(...range));
      }
      newestBefore = Math.max(newestBefore, row.created_at);
    });
    db.exec("COMMIT");
    return (db.prepare(`SELECT MAX(seq) AS s FROM messages`).get() as { s: number }).s;
  } finally {
    db.close();
  }
}
