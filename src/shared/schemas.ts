// Input validation (zod) for the Worker. Kept apart from the types so the page
// and the bot can import message.ts without bundling zod.
import { z } from "zod";
import { MAX_AUTHOR, MAX_TEXT, MESSAGE_ID_PATTERN, REACTIONS, ROOM_PATTERN } from "./message";
import type { Flags } from "./flags";
import { cleanName, cleanText } from "./text-hygiene";
import { BOT_NAME_PATTERN } from "./bots";

export const roomSchema = z.string().regex(ROOM_PATTERN, "room must match [a-z0-9][a-z0-9-]{0,63}");
export const messageIdSchema = z.string().regex(MESSAGE_ID_PATTERN, "id must look like <epoch ms>-<base36>");
export const modeSchema = z.enum(["kv", "do"]);
export const statusSchema = z.enum(["pending", "processing", "complete", "failed"]);

/** Said when a name or text is empty once cleaned: it may have held only invisible characters. */
const emptyAfterCleaning = (field: string) =>
  `${field} must not be empty (control and invisible characters are removed)`;

/** Text and names are cleaned (text-hygiene.ts) before the length rules: the limits count what is shown. */
export const textSchema = z
  .string()
  .transform(cleanText)
  .pipe(z.string().min(1, emptyAfterCleaning("text")).max(MAX_TEXT, `text must be at most ${MAX_TEXT} characters`));
export const authorSchema = z
  .string()
  .transform(cleanName)
  .pipe(
    z.string().min(1, emptyAfterCleaning("author")).max(MAX_AUTHOR, `author must be at most ${MAX_AUTHOR} characters`),
  );

/**
 * Names people may not take: what the page shows for bots ("bot", "bot (offline)", a model
 * in brackets) and for staff. Matched after cleaning, in any case and spacing.
 */
const RESERVED_NAME = /^(bot|ai|admin|administrator|operator|moderator|system)(\s*\(.*\))?$/i;
export const isReservedName = (name: string) => RESERVED_NAME.test(name.replace(/\s+/g, " ").trim());
const RESERVED_NAME_ERROR = "this name is reserved for bots and operators";

/** A person's name: an author name that is not reserved. */
export const humanNameSchema = authorSchema.refine((name) => !isReservedName(name), RESERVED_NAME_ERROR);

/** A client's own random secret (an edit key, a reactor key): long enough not to be guessed. */
function keySchema(name: string) {
  return z.string().regex(/^[A-Za-z0-9_-]{22,128}$/, `${name} must be 22 to 128 letters, digits, - or _`);
}

/** POST /api/comments/:id/edit: the author's new text, as the message's next version. */
export const editSchema = z.strictObject({
  room: roomSchema,
  text: textSchema,
  version: z.number().int("version must be a whole number").min(2, "version must be at least 2 (the first edit)"),
  editKey: keySchema("editKey"),
});

/** POST /api/comments/:id/reactions: one emoji of the fixed set, on or off, for one reactor. */
export const reactSchema = z.strictObject({
  room: roomSchema,
  emoji: z.enum(REACTIONS, { error: `emoji must be one of ${REACTIONS.join(" ")}` }),
  on: z.boolean(),
  reactorKey: keySchema("reactorKey"),
});

/**
 * A bot call's `botId`: a registered bot's token already names it (a different name is refused);
 * the legacy BOT_TOKEN's instances name themselves with it, as before.
 */
export const botIdSchema = z.string().min(1).max(100).optional();

/** POST /api/comments: a human message, or (with the bot token) an AI reply. */
export const postCommentSchema = z
  .strictObject({
    /** default: the replied message's room for an AI reply, else DEFAULT_ROOM */
    room: roomSchema.optional(),
    text: textSchema,
    author: authorSchema.optional(),
    id: messageIdSchema.optional(),
    kind: z.enum(["human", "ai"]).default("human"),
    replyTo: messageIdSchema.optional(),
    botId: botIdSchema,
    /** ai only: the bot stopped writing because someone pressed Stop */
    stopped: z.boolean().optional(),
    /** human, do rooms: the secret its author will edit it with (the page keeps it; the room a hash) */
    editKey: keySchema("editKey").optional(),
    /** ai only: the tokens the reply cost, as the model counted them */
    usage: z.strictObject({ promptTokens: z.number().int().min(0), replyTokens: z.number().int().min(0) }).optional(),
  })
  .refine((post) => post.kind === "ai" || post.author === undefined || !isReservedName(post.author), {
    message: RESERVED_NAME_ERROR,
    path: ["author"],
  });
export type PostCommentInput = z.input<typeof postCommentSchema>;

/** `room`: where the message was posted (its record is kept per room); without it only a legacy record is found. */
export const healSchema = z.strictObject({ messageId: messageIdSchema, room: roomSchema.optional() });
/** POST /api/admin/rooms/:room/purge: what to remove; asking for nothing is an error, not a no-op. */
export const purgeSchema = z
  .strictObject({
    before: z.number("before must be epoch ms (a number)").int("before must be whole epoch ms").positive().optional(),
    tombstones: z.boolean("tombstones must be true or false").optional(),
  })
  .refine((body) => body.before !== undefined || body.tombstones === true, {
    message: "give before (epoch ms) and/or tombstones: true",
  });
export type HealInput = z.infer<typeof healSchema>;

/** The most messages an operator may let one room hold (ROOM_MAX_MESSAGES is the default). */
export const MAX_ROOM_CAP = 10_000_000;
/** PUT /api/admin/rooms/:room/limits: this room's cap, raised (or lowered) from the default. */
export const limitsSchema = z.strictObject({
  maxMessages: z
    .number("maxMessages must be a number")
    .int("maxMessages must be a whole number")
    .min(1, "maxMessages must be at least 1")
    .max(MAX_ROOM_CAP, `maxMessages must be at most ${MAX_ROOM_CAP}`),
});

export const claimSchema = z.strictObject({
  messageId: messageIdSchema,
  botId: botIdSchema,
  room: roomSchema.optional(),
});
export type ClaimInput = z.infer<typeof claimSchema>;

export const failSchema = claimSchema.extend({ reason: z.string().min(1).max(500) });
export type FailInput = z.infer<typeof failSchema>;

const ROOM_NAMES_RULE = "room names must match [a-z0-9][a-z0-9-]{0,63}";
/**
 * zod's record drops a "__proto__" key without a word, so `{"__proto__":"do"}` would
 * pass as `{}` and a flag change would wipe every override: refuse it as the bad room name it is.
 */
const roomModesSchema = z
  .custom<unknown>(
    (value) => typeof value !== "object" || value === null || !Object.hasOwn(value, "__proto__"),
    `${ROOM_NAMES_RULE} (got __proto__)`,
  )
  .pipe(z.record(z.string().regex(ROOM_PATTERN, ROOM_NAMES_RULE), modeSchema));

export const flagsSchema: z.ZodType<Flags> = z.strictObject({
  defaultMode: modeSchema,
  doPercent: z.number().int().min(0).max(100),
  rooms: roomModesSchema,
});

/** A socket `send` frame: the same rules and error texts as a human POST /api/comments. */
export const sendFrameSchema = z.strictObject({
  type: z.literal("send"),
  id: messageIdSchema,
  text: textSchema,
  author: humanNameSchema.optional(),
  editKey: keySchema("editKey").optional(),
});

/** A socket `stop` frame: stop the reply being written with this id; `editKey`: its question's, the asker's proof. */
export const stopFrameSchema = z.strictObject({
  type: z.literal("stop"),
  id: messageIdSchema,
  editKey: keySchema("editKey").optional(),
});
/** POST /api/comments/:id/stop: the asker's edit key (a bot or operator token needs none). */
export const stopSchema = z.strictObject({ room: roomSchema, editKey: keySchema("editKey").optional() });
/** POST /api/comments/:id/regenerate: ask again; `requestId` makes a repeat one regenerate. */
export const regenerateSchema = z.strictObject({
  room: roomSchema,
  requestId: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, "requestId must be 8 to 64 letters, digits, - or _"),
  editKey: keySchema("editKey").optional(),
});
export const presenceFrameSchema = z.strictObject({ type: z.literal("presence"), name: authorSchema });
export const typingFrameSchema = z.strictObject({ type: z.literal("typing") });

/** POST /api/bot/stream: the text of a reply being written, from `offset` on. */
export const streamCallSchema = z.strictObject({
  room: roomSchema,
  id: messageIdSchema,
  replyTo: messageIdSchema,
  botId: botIdSchema,
  author: authorSchema,
  offset: z.number().int().min(0).max(MAX_TEXT),
  delta: z.string().max(MAX_TEXT),
});
export type StreamCallInput = z.infer<typeof streamCallSchema>;

/** What every message another path stored has, live or deleted. */
const storedFields = {
  id: messageIdSchema,
  room: roomSchema,
  kind: z.enum(["human", "ai"]),
  replyTo: messageIdSchema.optional(),
  status: statusSchema,
  createdAt: z.number().int().nonnegative(),
  error: z.string().optional(),
  stopped: z.boolean().optional(),
  /** a kv-mode lease in progress: kept across a flip so its bot can still answer */
  claimedBy: z.string().min(1).max(100).optional(),
  leaseUntil: z.number().int().optional(),
};

/**
 * A message as another path stored it (reconcile reads `cache:<room>`): checked before it
 * joins the log. A kv-mode deletion leaves a tombstone (empty text and author) in its place:
 * valid too, and anything marked deleted is taken as a tombstone, words or not.
 */
export const storedMessageSchema = z.union([
  z.object({
    ...storedFields,
    author: z.string().max(MAX_AUTHOR),
    text: z.string().max(MAX_TEXT),
    deleted: z.literal(true),
    deletedAt: z.number().int().nonnegative().optional(),
  }),
  z.object({
    ...storedFields,
    author: z.string().min(1).max(MAX_AUTHOR),
    text: z.string().min(1).max(MAX_TEXT),
    deleted: z.undefined().optional(),
  }),
]);

/** First problem zod found, as one readable line: "text: text must not be empty". */
export function describeZodError(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid input";
  const path = issue.path.join(".");
  return path ? `${path}: ${issue.message}` : issue.message;
}

export const botNameSchema = z
  .string()
  .regex(BOT_NAME_PATTERN, "name must be a lower-case letter, then up to 31 letters, digits or -");

/** POST /api/admin/bots: a new bot; its token is answered once. */
export const createBotSchema = z.strictObject({
  name: botNameSchema,
  /** the Ollama model the bot runs (e.g. llama3.2:1b) */
  model: z.string().trim().min(1, "model must not be empty").max(100),
  rooms: z.union([z.literal("all"), z.array(roomSchema).min(1, 'rooms: name at least one room, or "all"').max(100)]),
});

/** PUT /api/admin/rooms/:room/bots: the room's default bot (null: any bot serving the room). */
export const roomDefaultBotSchema = z.strictObject({ defaultBot: botNameSchema.nullable() });
