// Input validation (zod) for the Worker. Kept apart from the types so the page
// and the bot can import message.ts without bundling zod.
import { z } from "zod";
import { MAX_AUTHOR, MAX_TEXT, MESSAGE_ID_PATTERN, ROOM_PATTERN } from "./message";
import type { Flags } from "./flags";

export const roomSchema = z.string().regex(ROOM_PATTERN, "room must match [a-z0-9][a-z0-9-]{0,63}");
export const messageIdSchema = z.string().regex(MESSAGE_ID_PATTERN, "id must look like <epoch ms>-<base36>");
export const modeSchema = z.enum(["kv", "do"]);
export const statusSchema = z.enum(["pending", "processing", "complete", "failed"]);

const textSchema = z
  .string()
  .transform((s) => s.trim())
  .pipe(z.string().min(1, "text must not be empty").max(MAX_TEXT, `text must be at most ${MAX_TEXT} characters`));
const authorSchema = z
  .string()
  .transform((s) => s.trim())
  .pipe(z.string().min(1, "author must not be empty").max(MAX_AUTHOR, `author must be at most ${MAX_AUTHOR} characters`));

/** POST /api/comments: a human message, or (with the bot token) an AI reply. */
export const postCommentSchema = z.strictObject({
  /** default: the replied message's room for an AI reply, else DEFAULT_ROOM */
  room: roomSchema.optional(),
  text: textSchema,
  author: authorSchema.optional(),
  id: messageIdSchema.optional(),
  kind: z.enum(["human", "ai"]).default("human"),
  replyTo: messageIdSchema.optional(),
  botId: z.string().min(1).max(100).optional(),
});
export type PostCommentInput = z.input<typeof postCommentSchema>;

export const healSchema = z.strictObject({ messageId: messageIdSchema });
export type HealInput = z.infer<typeof healSchema>;

export const claimSchema = z.strictObject({
  messageId: messageIdSchema,
  botId: z.string().min(1).max(100),
  room: roomSchema.optional(),
});
export type ClaimInput = z.infer<typeof claimSchema>;

export const failSchema = claimSchema.extend({ reason: z.string().min(1).max(500) });
export type FailInput = z.infer<typeof failSchema>;

export const flagsSchema: z.ZodType<Flags> = z.strictObject({
  defaultMode: modeSchema,
  doPercent: z.number().int().min(0).max(100),
  rooms: z.record(z.string().regex(ROOM_PATTERN, "room names must match [a-z0-9][a-z0-9-]{0,63}"), modeSchema),
});

