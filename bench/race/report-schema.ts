// The race lab's JSON report (--json): one schema, so the writer, the HTML report
// and the tests agree on every field.
import { z } from "zod";

const percentilesSchema = z.object({
  count: z.number().int(),
  p50: z.number().nullable(),
  p95: z.number().nullable(),
  max: z.number().nullable(),
});
export type TimePercentiles = z.infer<typeof percentilesSchema>;

/**
 * One side of the first version's table: human messages or AI replies. The first-check counts
 * follow the definitions in summary.ts (FIRST_CHECK_DEFINITIONS). Result files written
 * before those definitions lack the fields marked "new" and carry inCacheOnFirstCheck
 * (a poll or a push, window included); the renderers show "—" for what a file lacks.
 */
export const sideSchema = z.object({
  posted: z.number().int(),
  acknowledged: z.number().int(),
  /** new: in the first poll requested after the acknowledgement */
  inFirstPoll: z.number().int().optional(),
  /** absent from the first poll requested after the acknowledgement, whose window covered it */
  missingOnFirstCheck: z.number().int(),
  /** new: pushed over the room socket before any poll after the acknowledgement */
  firstSeenByPush: z.number().int().optional(),
  /** new: older than the first poll's full 200-message window (pushed out, not lost) */
  outOfWindowOnFirstCheck: z.number().int().optional(),
  /** older files only: first evidence was a poll or a push, or it had left the window */
  inCacheOnFirstCheck: z.number().int().optional(),
  /** messages that needed at least one heal call */
  healed: z.number().int(),
  healCalls: z.number().int(),
  /** new: heal calls the server answered readded: true (it really was missing and was put back) */
  healsReadded: z.number().int().optional(),
  /** acknowledged and in the room's list at the end; or, older than its 200-message window, kept in the do log / seen by a tab in kv */
  finallyDelivered: z.number().int(),
  /** acknowledged ids that are not delivered (see auditFinalList in round.ts) */
  undelivered: z.array(z.string()),
  /** of those, how many some tab had seen: overwritten later, after their check had passed */
  seenThenLost: z.number().int(),
  /** acknowledged ids older than the final list's 200-message window */
  beyondWindow: z.number().int(),
  timeToVisibleMs: percentilesSchema,
});
export type Side = z.infer<typeof sideSchema>;

export const roundSchema = z.object({
  mode: z.enum(["kv", "do"]),
  tabs: z.number().int(),
  round: z.number().int(),
  room: z.string(),
  bot: z.enum(["offline", "ollama", "none"]),
  durationMs: z.number(),
  deadlineMs: z.number(),
  deadlineHit: z.boolean(),
  human: sideSchema,
  /** null without a bot */
  ai: sideSchema.nullable(),
  timeToVisibleMs: percentilesSchema,
  /** every measured time to visible (ms), for summaries over rounds and the chart */
  timeToVisibleSamplesMs: z.object({ human: z.array(z.number()), ai: z.array(z.number()) }),
  duplicates: z.object({
    /** ids shown more than once in one list */
    ids: z.number().int(),
    /** human messages that got more than one AI reply */
    doubleAnswers: z.number().int(),
    total: z.number().int(),
  }),
  healCallsPerDelivered: z.number().nullable(),
  /** HTTP requests the tabs made, WebSocket frames pushed to them */
  requests: z.object({
    post: z.number().int(),
    poll: z.number().int(),
    heal: z.number().int(),
    pushesReceived: z.number().int(),
  }),
  /** the round's history (every send, heal and read) checked as Jepsen checks a queue (bench/check) */
  historyCheck: z.object({ anomalies: z.number().int(), summary: z.string() }).optional(),
  /** why this round counts as failed; empty when every acknowledged message was delivered once */
  failures: z.array(z.string()),
  /** worth knowing, not a failure (e.g. kv messages pushed out of the 200-message cache) */
  notes: z.array(z.string()),
});
export type RoundResult = z.infer<typeof roundSchema>;

/** All rounds of one mode and tab count, added up. */
export const summarySchema = roundSchema
  .omit({
    round: true,
    room: true,
    durationMs: true,
    deadlineMs: true,
    deadlineHit: true,
    failures: true,
    notes: true,
    timeToVisibleSamplesMs: true,
    historyCheck: true,
  })
  .extend({ rounds: z.number().int(), firstCheckLossPct: z.number().nullable(), failedRounds: z.number().int() });
export type Summary = z.infer<typeof summarySchema>;

export const raceReportSchema = z.object({
  kind: z.literal("race"),
  generatedAt: z.string(),
  command: z.string(),
  target: z.object({ url: z.string(), local: z.boolean() }),
  options: z.object({
    tabs: z.array(z.number().int()),
    modes: z.array(z.enum(["kv", "do"])),
    rounds: z.number().int(),
    pollMs: z.number(),
    bot: z.enum(["offline", "ollama", "none"]),
    bots: z.number().int(),
    push: z.boolean(),
    /** null: each round's own default (see roundSchema.deadlineMs) */
    deadlineMs: z.number().nullable(),
  }),
  rounds: z.array(roundSchema),
  summaries: z.array(summarySchema),
  ok: z.boolean(),
});
export type RaceReport = z.infer<typeof raceReportSchema>;
