// The rows bench's result file (bench/rows.ts) and its tables in docs/benchmarks.md: SQLite rows
// written per change in a do room, by table, the message table's own row apart from its index
// entries, and the alarms set (billed as one row each).
import { z } from "zod";
import { fmt, markdownTable } from "./lib/table";

const perOperation = z.object({
  /** rows written per operation, by the table each statement wrote (index entries included) */
  byTable: z.record(z.string(), z.number()),
  /** of the `messages` rows: the row itself, and entries in its indexes (id, position, reply_to) */
  messageRow: z.number(),
  messageIndexEntries: z.number(),
  total: z.number(),
  /** `setAlarm` calls per operation (billed as a row written each; not in `total`) */
  alarmsSet: z.number(),
});
export type RowsPerOperation = z.infer<typeof perOperation>;

export const OPERATIONS = {
  post: "a human message (posted one at a time; KV record written before the next)",
  burst: "a human message (in a burst of concurrent posts)",
  claim: "a claim",
  renewal: "a claim renewed by its holder",
  release: "a release",
  fail: "a failure (its KV record is owed)",
  reply: "an AI reply (its row, and the question's status change to complete)",
  edit: "an edit (its KV record is owed)",
  reaction: "a reaction toggled",
  presence: "a presence frame",
  typing: "a typing frame",
} as const;
export type Operation = keyof typeof OPERATIONS;

export const rowsReportSchema = z.object({
  kind: z.literal("rows"),
  generatedAt: z.string(),
  command: z.string(),
  /** operations of each kind measured (the burst: its size) */
  operations: z.number().int(),
  rows: z.record(z.enum(Object.keys(OPERATIONS) as [Operation, ...Operation[]]), perOperation),
});
export type RowsReport = z.infer<typeof rowsReportSchema>;

/** The targets: rows written in the Room per change, counted once KV has what it owes. */
export const ROWS_TARGETS: Record<Operation, number> = {
  post: 4,
  burst: 4,
  claim: 2,
  renewal: 2,
  release: 2,
  fail: 2,
  reply: 4 + 2,
  edit: 2,
  reaction: 2,
  presence: 0,
  typing: 0,
};

export function rowsTable(report: RowsReport): string {
  const tables = [...new Set(Object.values(report.rows).flatMap((r) => Object.keys(r.byTable)))]
    .filter((t) => t !== "messages")
    .sort();
  return markdownTable(
    ["operation", "messages: row", "messages: index entries", ...tables, "total", "target", "met", "alarms set"],
    (Object.keys(OPERATIONS) as Operation[])
      .filter((op) => report.rows[op])
      .map((op) => {
        const r = report.rows[op]!;
        const target = ROWS_TARGETS[op];
        return [
          OPERATIONS[op],
          fmt(r.messageRow, 2),
          fmt(r.messageIndexEntries, 2),
          ...tables.map((t) => fmt(r.byTable[t] ?? 0, 2)),
          fmt(r.total, 2),
          `≤ ${target}`,
          r.total <= target + 1e-9 ? "yes" : "**no**",
          fmt(r.alarmsSet, 2),
        ];
      }),
    ["left", "right", "right", ...tables.map(() => "right" as const), "right", "right", "left", "right"],
  );
}
