// The people bench's result file (bench/people.ts) and its table in docs/benchmarks.md.
import { z } from "zod";
import { markdownTable } from "./lib/table";

export const peopleReportSchema = z.object({
  kind: z.literal("people"),
  generatedAt: z.string(),
  command: z.string(),
  operations: z.number().int(),
  /** SQLite rows written per operation, by kind */
  rowsPerOperation: z.object({ presence: z.number(), typing: z.number(), reaction: z.number(), edit: z.number() }),
});
export type PeopleReport = z.infer<typeof peopleReportSchema>;

/** The targets: presence and typing never written, an edit and a reaction at most two rows. */
export const PEOPLE_TARGETS = { presence: 0, typing: 0, reaction: 2, edit: 2 } as const;

const LABELS: Record<keyof typeof PEOPLE_TARGETS, string> = {
  presence: "a presence frame (a name set or changed)",
  typing: "a typing frame",
  reaction: "a reaction toggled on",
  edit: "an edit (until its KV record is written)",
};

export function peopleTable(report: PeopleReport): string {
  return markdownTable(
    ["operation", "SQLite rows written", "target", "met"],
    (Object.keys(LABELS) as (keyof typeof PEOPLE_TARGETS)[]).map((kind) => {
      const rows = report.rowsPerOperation[kind];
      const target = PEOPLE_TARGETS[kind];
      return [LABELS[kind], String(rows), `≤ ${target}`, rows <= target ? "yes" : "**no**"];
    }),
    ["left", "right", "right", "left"],
  );
}
