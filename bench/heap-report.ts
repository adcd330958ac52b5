// The heap bench's result file (bench/heap.ts) and its tables in docs/benchmarks.md: JavaScript heap
// allocated per socket message in ours and in the bare reference room, and where ours allocates it.
import { z } from "zod";
import { pairedRatios } from "./lib/stats";
import { fmt, markdownTable } from "./lib/table";

const site = z.object({
  /** the function, as V8 names it ("(anonymous)" for an arrow) */
  fn: z.string(),
  /** its source file and line, from the bundle's source map; "(runtime)" for the runtime's own */
  at: z.string(),
  bytesPerMessage: z.number(),
});
export type AllocationSite = z.infer<typeof site>;

export const heapReportSchema = z.object({
  kind: z.literal("heap"),
  generatedAt: z.string(),
  command: z.string(),
  /** messages offered per second to each room, and measured per round */
  ratePerSecond: z.number(),
  messagesPerRound: z.number().int(),
  senders: z.number().int(),
  listeners: z.number().int(),
  /** the sampling heap profiler's mean interval, bytes */
  samplingInterval: z.number().int(),
  /** bytes allocated per message in each round (collected objects included), in the order run */
  ours: z.array(z.number()),
  reference: z.array(z.number()),
  /** ours' largest allocation sites over all rounds, bytes per message */
  oursSites: z.array(site),
});
export type HeapReport = z.infer<typeof heapReportSchema>;

const kb = (bytes: number) => fmt(bytes / 1024, 1);

export function heapTable(report: HeapReport): string {
  const spread = pairedRatios(report.ours, report.reference);
  const side = (rounds: number[]) => rounds.map(kb).join(", ");
  return markdownTable(
    ["room", "KiB allocated per socket message, by round", "ours / reference"],
    [
      ["ours", side(report.ours), `${fmt(spread.ofMeans, 3)} × (${fmt(spread.min, 3)}–${fmt(spread.max, 3)})`],
      ["the bare reference room", side(report.reference), ""],
    ],
    ["left", "right", "right"],
  );
}

export function heapSitesTable(report: HeapReport): string {
  return markdownTable(
    ["ours: where a socket message's heap is allocated", "function", "bytes per message"],
    report.oursSites.map((s) => [s.fn ? `\`${s.at}\`` : s.at, s.fn ? `\`${s.fn}\`` : "—", fmt(s.bytesPerMessage, 0)]),
    ["left", "left", "right"],
  );
}
