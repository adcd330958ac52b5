// Who a bot call comes from, by its bearer token alone. Registered bots (POST /api/admin/bots)
// are found by the SHA-256 of their token in the bot book, which each isolate caches whole: a
// bot request costs no Control call, and neither does a wrong token (a flood of guesses cannot
// reach Control more than once per MISS_REFRESH_MS per isolate). The price: another isolate
// may accept a revoked or rotated token for up to BOT_BOOK_TTL_MS (the isolate that revoked
// forgets at once). The legacy BOT_TOKEN (and the operator token) stay one principal whose
// instances name themselves with `botId`, as before; they may not use a registered bot's name.
import { servesRoom, type BotDirectory, type BotDirectoryEntry, type BotMe, type BotRooms } from "../shared/bots";
import { recordStat, type BotWork } from "../control/stats";
import { bearer, roleOf, sha256Hex } from "./auth";
import { StatusError } from "./http";

/** How stale the cached bot book may be: also how long a revoked token can still work elsewhere. */
export const BOT_BOOK_TTL_MS = 30_000;
/** An unknown token refreshes the book at most this often (a bot created in another isolate). */
const MISS_REFRESH_MS = 5_000;
/** A bot's "seen" point is written at most once a minute per isolate (lastSeen is to the minute). */
const SEEN_EVERY_MS = 60_000;

const WRONG_TOKEN = "missing or wrong bearer token (BOT_TOKEN or a bot's own token; revoked and rotated ones fail)";

/** The legacy BOT_TOKEN's name when its instance names none. */
export const LEGACY_BOT = "bot";

type Book = { directory: BotDirectory; byHash: Map<string, BotDirectoryEntry>; names: Set<string>; at: number };
let book: Book | null = null;
let lastMissRefresh = 0;
const lastSeen = new Map<string, number>();

/** The operator changed the book: this isolate reads it afresh on the next bot call. */
export function forgetBotBook(): void {
  book = null;
}

async function loadBook(env: Env, now: number): Promise<Book> {
  const directory = await env.CONTROL.getByName("global").botDirectory();
  book = {
    directory,
    byHash: new Map(directory.bots.map((bot) => [bot.tokenHash, bot])),
    names: new Set(directory.bots.map((bot) => bot.name)),
    at: now,
  };
  return book;
}

async function currentBook(env: Env, now = Date.now()): Promise<Book> {
  return book && now - book.at < BOT_BOOK_TTL_MS ? book : loadBook(env, now);
}

/** The caller of one bot request. `name` is what claims, streams and replies are bound to. */
export class BotCaller {
  constructor(
    readonly name: string,
    readonly model: string | null,
    readonly rooms: BotRooms,
    readonly legacy: boolean,
    private readonly book: Book,
  ) {}

  /** 403 for a room this bot does not serve. */
  mustServe(room: string): void {
    if (!servesRoom(this.rooms, room)) throw new StatusError(403, `bot ${this.name} does not serve room ${room}`);
  }

  /** The registered bots serving a room: a mention of one of them is for that bot only. */
  roster(room: string): string[] {
    return this.book.directory.bots.filter((bot) => servesRoom(bot.rooms, room)).map((bot) => bot.name);
  }

  me(): BotMe {
    return { name: this.name, model: this.model, rooms: this.rooms, legacy: this.legacy };
  }

  /** Counts this bot's work in the stats store (no object call per message). */
  record(env: Env, waitUntil: (promise: Promise<unknown>) => void, what: BotWork, tokens?: [number, number]): void {
    const now = Date.now();
    if (what === "seen") {
      if (now - (lastSeen.get(this.name) ?? 0) < SEEN_EVERY_MS) return;
      lastSeen.set(this.name, now);
    }
    recordStat(env, waitUntil, {
      type: "bot",
      bot: this.name,
      what,
      ...(tokens ? { tokensIn: tokens[0], tokensOut: tokens[1] } : {}),
    });
  }
}

/**
 * The bot a request's token proves (401 otherwise). `claimed`: the body's `botId`, if any:
 * a registered bot naming another bot is refused (403); a legacy instance may not take a
 * registered bot's name (403).
 */
export async function botCaller(
  request: Request,
  env: Env,
  claimed?: string,
  legacyNamesItself = false,
): Promise<BotCaller> {
  const role = await roleOf(request, env);
  const now = Date.now();
  if (role === "admin" || role === "bot") {
    // Instances of the one legacy principal tell their leases apart by the name they give.
    if (legacyNamesItself && claimed === undefined)
      throw new StatusError(400, "botId: required with BOT_TOKEN (a bot's own token names it)");
    const current = await currentBook(env, now);
    const name = claimed ?? LEGACY_BOT;
    if (role === "bot" && current.names.has(name))
      throw new StatusError(403, `botId: ${name} is a registered bot; use its own token`);
    return new BotCaller(name, null, "all", true, current);
  }
  const token = bearer(request);
  if (!token) throw new StatusError(401, WRONG_TOKEN);
  const hash = await sha256Hex(token);
  let current = await currentBook(env, now);
  let entry = current.byHash.get(hash);
  if (!entry && now - lastMissRefresh >= MISS_REFRESH_MS) {
    lastMissRefresh = now;
    current = await loadBook(env, now);
    entry = current.byHash.get(hash);
  }
  if (!entry) throw new StatusError(401, WRONG_TOKEN);
  if (claimed !== undefined && claimed !== entry.name)
    throw new StatusError(403, `botId: this token is bot ${entry.name}, not ${claimed}`);
  return new BotCaller(entry.name, entry.model, entry.rooms, false, current);
}
