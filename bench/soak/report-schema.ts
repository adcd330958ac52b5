// The soak's JSON report (--json): one schema, so the writer, the docs and the
// smoke test agree on every field.
import { z } from "zod";
import { ANOMALY_KINDS } from "../check/checker";

const count = z.number().int().min(0);
const mode = z.enum(["kv", "do"]);

/** One line of a mode's table. */
export const rowSchema = z.object({
  acknowledged: count,
  /** the sender's first check after the acknowledgement did not find it */
  missingWithoutHeal: count,
  /** a heal call put it back (readded: true) */
  healed: count,
  /** not in its room at the end (kv: and not excused as beyond the 200-message window) */
  lostForGood: count,
  /** kv: older than the window at the end of its kv phase, seen while it was in it */
  beyondWindow: count,
  /** ids a list showed more than once */
  duplicates: count,
  /** human messages with more than one AI reply (human and all rows only) */
  answeredTwice: count.nullable(),
  /** 5xx answers the senders saw (writers on the human row, bots on the AI row) */
  serverErrors: count,
  /** requests that got no answer at all (the Worker was down) */
  noAnswer: count,
});
export type Row = z.infer<typeof rowSchema>;

const lostSchema = z.object({
  id: z.string(),
  room: z.string(),
  kind: z.enum(["human", "ai"]),
  createdAt: z.number(),
  ackedAt: z.number(),
  firstCheck: z.string().nullable(),
  everSeen: z.boolean(),
});

export const modeReportSchema = z.object({
  human: rowSchema,
  ai: rowSchema,
  all: rowSchema,
  /** evidence: every lost message, duplicated id and doubly answered message */
  lost: z.array(lostSchema),
  duplicateIds: z.array(z.string()),
  answeredTwice: z.array(
    z.object({
      humanId: z.string(),
      room: z.string(),
      /** inRoom: the reply stands in its room at the end; seq: its place in the room's log (order of arrival) */
      replies: z.array(
        z.object({ id: z.string(), mode: mode.nullable(), inRoom: z.boolean(), seq: z.number().nullable() }),
      ),
    }),
  ),
});
export type ModeReport = z.infer<typeof modeReportSchema>;

const anomalySchema = z.object({
  room: z.string(),
  ids: z.array(z.string()),
  reader: z.string().optional(),
  at: z.number().optional(),
  detail: z.string(),
});

/** The history checker's verdict on one mode (bench/check/checker.ts): each anomaly kind, counted, with examples. */
const historyModeSchema = z.object({
  acknowledged: count,
  total: count,
  anomalies: z.record(z.enum(ANOMALY_KINDS), z.object({ count, examples: z.array(anomalySchema) })),
});

export const historyCheckSchema = z.object({
  ops: z.object({ sends: count, ok: count, fail: count, info: count, heals: count, readded: count }),
  observations: count,
  readers: count,
  modes: z.object({ do: historyModeSchema, kv: historyModeSchema }),
});

export const soakReportSchema = z.object({
  kind: z.literal("soak"),
  command: z.string(),
  generatedAt: z.string(),
  durationSeconds: z.number(),
  options: z.object({
    minutes: z.number(),
    writers: count,
    rooms: count,
    posts: count,
    serverKills: count,
    botKills: count,
    flipEveryS: z.number(),
    bots: count,
    generationMs: count,
    claimLeaseS: count,
    pollMs: count,
    settleS: count,
  }),
  chaos: z.object({
    /** seconds from the start of posting */
    /** duringFlip: a flip's calls were on their way when the kill landed */
    serverKills: z.array(z.object({ atS: z.number(), downS: z.number(), duringFlip: z.boolean() })),
    botKills: z.array(
      z.object({
        atS: z.number(),
        botId: z.string(),
        /** the human message being answered when the kill landed */
        generatingFor: z.string().nullable(),
        intoGenerationMs: z.number().nullable(),
        midGeneration: z.boolean(),
        /** replies that message has at the end (1: answered again after the killed claim ran out) */
        repliesAfter: count,
      }),
    ),
    botCrashes: z.array(z.object({ atS: z.number(), botId: z.string(), exitCode: z.number().nullable() })),
    flips: z.object({ total: count, toDo: count, toKv: count, failedPuts: count, auditFlips: count }),
    /** every flip, for the timeline around any evidence */
    flipLog: z.array(z.object({ atS: z.number(), room: z.string(), to: mode })),
  }),
  posts: z.object({
    attempted: count,
    acknowledged: count,
    /** sends still unanswered when posting stopped (not counted anywhere else) */
    unacknowledged: count,
    viaSocket: count,
    viaHttp: count,
    aiReplies: count,
  }),
  settle: z.object({ seconds: z.number(), complete: z.boolean(), unverifiedHuman: count, unverifiedAi: count }),
  modes: z.object({ do: modeReportSchema, kv: modeReportSchema }),
  /** the recorded history, checked as Jepsen checks a queue (reports written before it have none) */
  history: historyCheckSchema.optional(),
  rooms: z.array(
    z.object({ room: z.string(), finalMode: mode, flips: count, logSize: count, kvListSize: count.nullable() }),
  ),
  /** why the run failed (do figures that must be 0) */
  failures: z.array(z.string()),
  notes: z.array(z.string()),
  ok: z.boolean(),
});
export type SoakReport = z.infer<typeof soakReportSchema>;
