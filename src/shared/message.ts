// The message shape and the input rules shared by the Worker, the page and the bot.
// No runtime dependencies: the page bundles this. Input schemas live in ./schemas.

export const ROOM_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;
/** "<epoch ms>-<base36 suffix>", e.g. 1761938419272-bkf6kq2ca */
export const MESSAGE_ID_PATTERN = /^\d{13}-[a-z0-9]{6,16}$/;
export const DEFAULT_ROOM = "lobby";
export const MAX_TEXT = 4000;
export const MAX_AUTHOR = 40;
/** The legacy cache and the DO mirror keep this many newest messages. */
export const CACHE_SIZE = 200;

/**
 * How far the mirror may trail the log. Only a flip to kv needs it current, and a flip writes it
 * first; meanwhile every change within the lag shares one KV put (and one alarm), which at a
 * few messages a minute is most of what a message costs. KV readers elsewhere lag up to a minute anyway.
 */
export const MIRROR_LAG_MS = 30_000;

/**
 * Whether a message stamped `createdAt` that a kv list lacks belongs in it: fewer than CACHE_SIZE of
 * the list's entries are at least as new. Writers append and drop the list's first entry, so of
 * messages stamped in the same millisecond (common: a runtime's clock moves between I/O, not within
 * one event) the first in the list leaves first while another stays. Order alone says nothing: in
 * production writers in different places stamp with their own clocks.
 */
export function inKvWindow(list: readonly { createdAt: number }[], createdAt: number): boolean {
  let asNew = 0;
  for (const entry of list) if (entry.createdAt >= createdAt && ++asNew >= CACHE_SIZE) return false;
  return true;
}

/**
 * A kv list with `added` put back by time, keeping its newest CACHE_SIZE: the list's next writers
 * push out its oldest entries, so an old message put back never pushes a newer one out.
 */
export function placedByTime<T extends { createdAt: number }>(list: readonly T[], added: readonly T[]): T[] {
  return [...list, ...added].sort((a, b) => a.createdAt - b.createdAt).slice(-CACHE_SIZE);
}

/** Which path serves a room: the legacy KV read-modify-write, or the room's Durable Object. */
export type PathMode = "kv" | "do";
export type MessageStatus = "pending" | "processing" | "complete" | "failed";

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
  /**
   * do mode: the room's change position of this message's latest change (new, claimed, completed…);
   * `since` pages by it
   */
  pos?: number;
  /** ai only: the bot stopped writing when asked (Stop); the text is what it had written */
  stopped?: boolean;
  /** human only: why no reply will come (status "failed") */
  error?: string;
  /** human only: the bot holding the claim and when its lease ends (status "processing") */
  claimedBy?: string;
  leaseUntil?: number;
  /** an operator deleted it: a tombstone keeps the id (and kind, replyTo, times), text and author are empty */
  deleted?: true;
  deletedAt?: number;
  /** human, do rooms: edited by its author (absent: version 1, never edited) */
  version?: number;
  editedAt?: number;
  /** do rooms: how many people reacted with each emoji (absent: none) */
  reactions?: Partial<Record<Reaction, number>>;
};

/**
 * The emoji a message can be given. A fixed few: counts stay comparable and small, every page
 * renders them the same way, and no one can attach an arbitrary (or invisible) string.
 */
export const REACTIONS = ["👍", "❤️", "😂", "😮", "🙏", "🎉"] as const;
export type Reaction = (typeof REACTIONS)[number];

/** One earlier text of an edited message: `version` was replaced at `replacedAt`. */
export type MessageVersion = { version: number; text: string; replacedAt: number };

/** Why a deleted id is refused (410) wherever it comes back: a heal, a post reusing it, a claim, a reply. */
export const DELETED_ERROR = "message was deleted by an operator";
/**
 * What everyone in a room sees when the bot gave up on a message: the bot's own reason may
 * name the model server's host, which only operators see (the room's inspection, the log).
 */
export const MODEL_UNAVAILABLE = "the model is unavailable";

/** What stays of a deleted message: the id and its place, never its words or who wrote them. */
export function toTombstone(message: Message, deletedAt: number): Message {
  const { claimedBy: _by, leaseUntil: _until, error: _error, ...kept } = message;
  return { ...kept, text: "", author: "", deleted: true, deletedAt };
}

/** A fresh id in the shared format; the suffix is random base36. */
export function newMessageId(now = Date.now()): string {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  let suffix = "";
  for (const b of bytes) suffix += (b % 36).toString(36);
  return `${now}-${suffix.slice(0, 9)}`;
}

/** The KV record of a message (`comment:<room>:<id>`): what any path can heal from; no log position, no lease. */
export function toRecord(message: Message): Message {
  const { seq: _seq, pos: _pos, claimedBy: _by, leaseUntil: _until, reactions: _reactions, ...record } = message;
  return record;
}
