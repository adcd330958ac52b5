// Bots as operator-managed identities: what the operator, the Worker, the room and the page
// share about them, and the one addressing rule (which bot may take a message).

/** A bot's name is how people mention it (`@name`): short, lower case, no spaces. */
export const BOT_NAME_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;

/** The rooms a bot serves: a list, or every room. */
export type BotRooms = string[] | "all";

/** A bot as the operator created it (its token is never stored, only its SHA-256 hash). */
export type BotInfo = { name: string; model: string; rooms: BotRooms; createdAt: number; rotatedAt: number | null };

/** A bot as the Worker's token lookup holds it. */
export type BotDirectoryEntry = BotInfo & { tokenHash: string };

/** The bot directory the Worker caches: every bot, and each room's default bot. */
export type BotDirectory = { bots: BotDirectoryEntry[]; defaults: Record<string, string> };

/** What the operator pushes to a room when bots change: the bots that name it, and its default. */
export type RoomBots = { bots: { name: string; model: string }[]; defaultBot: string | null };

/** A bot's work as the stats store sums it: for the operator page. */
export type BotCounters = {
  lastSeen: number | null;
  answered: number;
  failed: number;
  tokensIn: number;
  tokensOut: number;
};

/** A bot the stats have seen nothing of yet (a fresh object: the reader adds to it). */
export const noBotCounters = (): BotCounters => ({ lastSeen: null, answered: 0, failed: 0, tokensIn: 0, tokensOut: 0 });

export type BotListEntry = BotInfo & BotCounters;
export type BotsResponse = { bots: BotListEntry[]; defaults: Record<string, string> };
/** The answer to creating or rotating a bot: the only time its token is shown. */
export type BotTokenResponse = { bot: BotInfo; token: string };
/** GET /api/bot/me: who the bearer token says the bot is. `legacy`: the shared BOT_TOKEN. */
export type BotMe = { name: string; model: string | null; rooms: BotRooms; legacy: boolean };

/** Tokens one reply cost, as Ollama counts them (`prompt_eval_count`, `eval_count`). */
export type ReplyUsage = { promptTokens: number; replyTokens: number };

export function servesRoom(rooms: BotRooms, room: string): boolean {
  return rooms === "all" || rooms.includes(room);
}

const MENTION = /(?:^|[^\w@])@([a-z][a-z0-9-]{0,31})(?![\w-])/gi;

/** The names a text mentions (`@name`), lower-cased, in order of appearance. */
export function mentions(text: string): string[] {
  return [...text.matchAll(MENTION)].map((match) => match[1]!.toLowerCase());
}

/**
 * The one bot a message is for, or null when any bot serving the room may take it: the first
 * mentioned bot of the room's roster, else the room's default bot (if it still serves the room).
 */
export function addressee(text: string, roster: readonly string[], defaultBot: string | null): string | null {
  const named = mentions(text).find((name) => roster.includes(name));
  if (named) return named;
  return defaultBot && roster.includes(defaultBot) ? defaultBot : null;
}
