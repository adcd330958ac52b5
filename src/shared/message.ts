// The message shape and the input rules shared by the Worker, the page and the bot.
// Schemas are zod; the page imports only the types (erased at build), never zod itself.
import { z } from "zod";

export const ROOM_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;
/** "<epoch ms>-<base36 suffix>", e.g. 1761938419272-bkf6kq2ca */
export const MESSAGE_ID_PATTERN = /^\d{13}-[a-z0-9]{6,16}$/;
export const DEFAULT_ROOM = "lobby";
export const MAX_TEXT = 4000;
export const MAX_AUTHOR = 40;
/** The legacy cache and the DO mirror keep this many newest messages. */
export const CACHE_SIZE = 200;

export const roomSchema = z.string().regex(ROOM_PATTERN, "room must match [a-z0-9][a-z0-9-]{0,63}");
export const messageIdSchema = z.string().regex(MESSAGE_ID_PATTERN, "id must look like <epoch ms>-<base36>");
export const modeSchema = z.enum(["kv", "do"]);
export const statusSchema = z.enum(["pending", "processing", "complete", "failed"]);

export type CacheMode = z.infer<typeof modeSchema>;
export type MessageStatus = z.infer<typeof statusSchema>;

export type Message = {
  id: string;
  room: string;
  kind: "human" | "ai";
  author: string;
  text: string;
  /** ai only: the human message answered */
  replyTo?: string;
  status: MessageStatus;
  createdAt: number;
  /** do mode: position in the room log */
  seq?: number;
  /** human only: why no reply will come (status "failed") */
  error?: string;
  /** human only: the bot holding the claim and when its lease ends (status "processing") */
  claimedBy?: string;
  leaseUntil?: number;
};

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
  room: roomSchema.default(DEFAULT_ROOM),
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

/** A fresh id in the shared format; the suffix is random base36. */
export function newMessageId(now = Date.now()): string {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  let suffix = "";
  for (const b of bytes) suffix += (b % 36).toString(36);
  return `${now}-${suffix.slice(0, 9)}`;
}
