// A run's history, as a Jepsen-style checker reads it: every client operation with its
// invoke and complete times and outcome, and every reader's observations in order.
// Outcomes are Jepsen's: ok = acknowledged; fail = definitely not applied (a 4xx refusal);
// info = unknown (no answer, a timeout, a 5xx, or never completed before the run ended).
import { z } from "zod";

export const modeSchema = z.enum(["kv", "do"]);
export const outcomeSchema = z.enum(["ok", "fail", "info"]);
export const statusSchema = z.enum(["pending", "processing", "complete", "failed"]);

const time = z.number();

/** One message sent (POST /api/comments or a socket send, retries of the same id included). */
export const sendOpSchema = z.object({
  type: z.literal("send"),
  /** who sent it: a writer tab, a bot */
  process: z.string(),
  room: z.string(),
  id: z.string(),
  kind: z.enum(["human", "ai"]),
  /** ai: the human message answered */
  replyTo: z.string().optional(),
  invokeAt: time,
  /** null: never completed (its outcome is then info) */
  completeAt: time.nullable(),
  outcome: outcomeSchema,
  /** ok: the mode that acknowledged it; else the mode a refusal named or the room's mode as the sender knew it */
  mode: modeSchema.nullable(),
  /** the last HTTP (or nack) status seen, when there was one */
  status: z.number().int().optional(),
});

/** A heal call (POST /api/admin/add-to-cache) for an id some list lacked. */
export const healOpSchema = z.object({
  type: z.literal("heal"),
  process: z.string(),
  room: z.string(),
  id: z.string(),
  invokeAt: time,
  completeAt: time.nullable(),
  outcome: outcomeSchema,
  mode: modeSchema.nullable(),
  /** ok: whether the heal found the id missing and put it back */
  readded: z.boolean().nullable(),
});

export const opSchema = z.discriminatedUnion("type", [sendOpSchema, healOpSchema]);

/** What a reader saw of one message. */
export const observedSchema = z.object({
  id: z.string(),
  kind: z.enum(["human", "ai"]),
  status: statusSchema,
  replyTo: z.string().optional(),
  /** do: the message's place in the room log, fixed when it was logged */
  seq: z.number().optional(),
  /** do: the room's change position of the message's latest change */
  pos: z.number().optional(),
  /** when the server stamped it: where a full kv list's window ends */
  createdAt: z.number().optional(),
});

/**
 * One read by one reader. `list`: the room's newest messages in log order (GET /api/comments);
 * `changes`: messages in change order (`since` paging, or a whole-log read); `push`: socket frames.
 */
export const observationSchema = z.object({
  reader: z.string(),
  room: z.string(),
  /** when the answer arrived */
  at: time,
  /** when the read was sent: a read that lacks a write proves it missing only if sent after its acknowledgement */
  sentAt: time.optional(),
  /** the mode that answered the read */
  mode: modeSchema,
  kind: z.enum(["list", "changes", "push"]),
  /** do reads: the room's newest change position as the answer stated it */
  lastPos: z.number().optional(),
  /** a read of the room's whole log: every message the room holds is in it */
  complete: z.boolean().optional(),
  messages: z.array(observedSchema),
});

export const historySchema = z.object({
  version: z.literal(1),
  ops: z.array(opSchema),
  observations: z.array(observationSchema),
});

export type Mode = z.infer<typeof modeSchema>;
export type Outcome = z.infer<typeof outcomeSchema>;
export type Status = z.infer<typeof statusSchema>;
export type SendOp = z.infer<typeof sendOpSchema>;
export type HealOp = z.infer<typeof healOpSchema>;
export type Op = z.infer<typeof opSchema>;
export type Observed = z.infer<typeof observedSchema>;
export type Observation = z.infer<typeof observationSchema>;
export type History = z.infer<typeof historySchema>;
