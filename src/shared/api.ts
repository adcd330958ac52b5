// Response bodies of the HTTP API, shared by the Worker, the page, the bot and the lab.
import type { PathMode, Message } from "./message";
import type { FlagAuditEntry, FlagsDocument } from "./flags";
import type { UsageReport } from "./usage";
import type { StreamAck } from "./stream";
import type { Presence } from "./frames";

export const MODE_HEADER = "X-Cache-Mode";

export type ApiError = { error: string };
/**
 * `lastPos` (do mode): the room's newest change position (`pos`), the `since` that continues from
 * here. `lastSeq` is the same number under its old name, kept for one release: never derive a
 * cursor from messages' `seq` (the log order), which positions run ahead of.
 * `more` (scroll-back, `before=`): whether messages older than this page remain; false at the room's first.
 */
export type CommentsResponse = {
  comments: Message[];
  mode: PathMode;
  lastPos?: number;
  /** @deprecated use lastPos */
  lastSeq?: number;
  more?: boolean;
  /** do rooms: who is here (the room's sockets and bots), for pages that poll */
  presence?: Presence;
};
export type PendingResponse = { pending: Message[]; mode: PathMode };
/** One page of rooms in name order; `cursor` (when more remain) fetches the next: GET /api/rooms?cursor=… */
export type RoomsResponse = { rooms: { name: string; mode: PathMode }[]; cursor?: string };
/** GET /api/bot/rooms: of one page of `scanned` room markers, the rooms that may have work for a bot. */
export type BotRoomsResponse = RoomsResponse & { scanned: number };
export type HealResponse = { ok: true; readded: boolean; message: Message; mode: PathMode };
/** POST /api/bot/stream: how many characters the room holds of the reply, and whether Stop was pressed. */
export type StreamResponse = StreamAck & { mode: PathMode };
export type ClaimResponse = { ok: true; message: Message; leaseUntil: number; mode: PathMode };
/** `deletions`: operator deletions, newest first (DELETE /api/admin/messages/:id). */
export type FlagsResponse = {
  flags: FlagsDocument;
  audit: FlagAuditEntry[];
  deletions: DeletionAuditEntry[];
  purges: PurgeAuditEntry[];
  /** per-room caps operators set, newest first */
  limits: LimitAuditEntry[];
};
/**
 * A flip's progress (PUT /api/admin/flags): rooms flushed by this request, rooms leaving do
 * mode in all when it began, and how many still wait (202: send the same PUT again).
 */
export type FlipProgress = { flushed: string[]; total: number; remaining: number };
/** One operator deletion as the Control object's audit keeps it. */
export type DeletionAuditEntry = { at: number; who: string; room: string; id: string; kind: "human" | "ai" };
/** POST /api/admin/rooms/:room/purge: messages removed, and live messages the room still holds. */
export type PurgeResponse = { removed: number; count: number };
/** One operator purge: what it was asked to remove (`before`: epoch ms, null when not asked) and how many went. */
export type PurgeAuditEntry = {
  at: number;
  who: string;
  room: string;
  before: number | null;
  tombstones: boolean;
  removed: number;
};
/** A message a bot gave up on, with the bot's own reason: operators only (viewers see MODEL_UNAVAILABLE). */
export type BotFailure = { id: string; botId: string; at: number; detail: string };
/** A room is near its cap (the operator page says so) from this share of it on. */
export const NEAR_CAP_SHARE = 0.9;
export const isNearCap = (count: number, maxMessages: number): boolean =>
  maxMessages > 0 && count >= maxMessages * NEAR_CAP_SHARE;
/** What the operator page shows of a room's size (GET /api/admin/rooms/:room carries more). */
export type RoomSize = { count: number; maxMessages: number };
/** PUT /api/admin/rooms/:room/limits: the room's cap before and after, and the live messages it holds. */
export type LimitsResponse = { room: string; before: number; maxMessages: number; count: number };
/** One operator change of a room's cap (ROOM_MAX_MESSAGES for that room). */
export type LimitAuditEntry = { at: number; who: string; room: string; before: number; after: number };
/** `deleted`: false when the message was already a tombstone (the answer is the same). */
export type DeleteResponse = { ok: true; deleted: boolean; message: Message; mode: PathMode };

export type ModeStats = {
  posts: number;
  humanPosts: number;
  aiPosts: number;
  healsRequested: number;
  /** heals that found the message missing and put it back: real losses caught */
  healsReadded: number;
  /** mean and max ms from a missed message's creation to its heal */
  healDelayMeanMs: number;
  healDelayMaxMs: number;
  /** do: rooms in do mode (the registry shards' lists); kv: null, not counted (that would list every marker) */
  rooms: number | null;
};
export type StatsResponse = {
  modes: Record<PathMode, ModeStats>;
  /** heals per minute, newest last, for the operator chart */
  timeline: { minute: number; mode: PathMode; requested: number; readded: number }[];
  /** why the figures are empty: the stats store could not be read (e.g. Analytics Engine secrets missing) */
  unavailable?: string;
  /** billed operations of the shared objects and the Worker (the bench reads them) */
  usage?: UsageReport;
};
