// What the Room's RPC methods take and answer, and the refusals its parts share. The
// Worker's do path reads the same types.
import type { Refusal } from "../shared/leases";
import { DELETED_ERROR, type PathMode, type Message } from "../shared/message";
import { PAST_RETENTION_ERROR } from "../limits/retention";

/** Who is calling and under which flag version; a newer version triggers a reconcile. */
export type RoomCall = { room: string; flagVersion: number };

/**
 * A refusal; `mode: "kv"` means the room has left do mode and the call belongs on the kv
 * path; 429 (a limit, with `retryAfter` in seconds) and 507 (the room is full) come from the room's limits.
 */
export type RoomRefusal = {
  status: Refusal["status"] | 403 | 429 | 500 | 503 | 507;
  error: string;
  mode?: PathMode;
  retryAfter?: number;
};
export type RoomResult<T> = { ok: true; value: T } | ({ ok: false } & RoomRefusal);

/**
 * `editKeyHash`: the hash (hashKey) of the secret its author may edit it with later; `sender`:
 * who posted it (senderOf), for the bot's turns and per-sender cap; `capped`: whether that cap applies.
 */
export type NewHumanMessage = {
  id: string;
  text: string;
  author: string;
  editKeyHash?: string;
  sender?: string;
  capped?: boolean;
};
/**
 * Who asks to stop a reply or regenerate an answer: the asker proves it with the hash of the
 * human message's edit key; `privileged`: a bot or operator token holder.
 */
export type AskerProof = { editKeyHash?: string; privileged?: boolean };
/** Ask again: `id` is the human message; `requestId` makes a repeated request one regenerate. */
export type RegenerateInput = AskerProof & { id: string; requestId: string; sender?: string };

/** A sender as the room keeps it: a hash of the client key, never the address itself. */
export async function senderOf(clientKey: string): Promise<string> {
  const known = recentSenders.get(clientKey);
  if (known) return known;
  const sender = (await hashKey(`sender:${clientKey}`)).slice(0, 22);
  remember(recentSenders, clientKey, sender);
  return sender;
}
/** An edit: `version` is the one the new text becomes (the current one + 1), so a resend is idempotent. */
export type EditInput = { id: string; text: string; version: number; editKeyHash: string };
/** `reactorHash`: who reacts, as the hash of the page's own random key. */
export type ReactInput = { id: string; emoji: string; reactorHash: string; on: boolean };

/** Keys reach the room only as their SHA-256: a copy of its storage can edit nothing. */
export async function hashKey(key: string): Promise<string> {
  const known = recentHashes.get(key);
  if (known) return known;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key));
  const hash = btoa(String.fromCharCode(...new Uint8Array(digest)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
  remember(recentHashes, key, hash);
  return hash;
}
/** A page sends its one edit key, and a person their one client key, with every message: hashed once per isolate. */
const recentHashes = new Map<string, string>();
const recentSenders = new Map<string, string>();
const RECENT_HASHES = 1000;

function remember(recent: Map<string, string>, key: string, value: string): void {
  // Map order is insertion order: the oldest goes first.
  if (recent.size >= RECENT_HASHES) recent.delete(recent.keys().next().value!);
  recent.set(key, value);
}
export type NewReply = { id: string; replyTo: string; text: string; author: string; botId: string; stopped?: boolean };
export type Stored = { message: Message; created: boolean };
/** `deleted`: false when the message already was a tombstone. */
export type Deleted = { message: Message; deleted: boolean };
export type { PurgeResponse as Purged } from "../shared/api";

export const LEFT_DO_MODE: RoomRefusal = { status: 409, error: "room is not in do mode; use the kv path", mode: "kv" };
/** A deleted id is final: whoever brings it back (post, heal, claim, reply) is told so. */
export const gone = (what = ""): RoomRefusal => ({ status: 410, error: `${what}${DELETED_ERROR}` });
export const PAST_RETENTION: RoomRefusal = { status: 410, error: PAST_RETENTION_ERROR };
export const NOT_FOUND: RoomRefusal = { status: 404, error: "message not found in this room" };

export const ok = <T>(value: T): RoomResult<T> => ({ ok: true, value });
export const refused = (refusal: RoomRefusal): RoomResult<never> => ({ ok: false, ...refusal });

/** Names of errors made by the code itself: sending the same call again meets the same bug. */
const BUG_NAMES = new Set(["TypeError", "RangeError", "ReferenceError", "SyntaxError"]);

/**
 * Whether a thrown error is a bug rather than a passing failure of the platform (an
 * overloaded or reset object, a storage or KV timeout: those carry `retryable` or
 * `overloaded`, or are plain errors). A bug is answered 500 with an error id, never
 * "retry", so a deterministic failure cannot turn into endless resends.
 */
export function isBug(err: unknown): boolean {
  const e = err as { name?: unknown; retryable?: unknown; overloaded?: unknown } | null;
  return !!e && e.retryable !== true && e.overloaded !== true && typeof e.name === "string" && BUG_NAMES.has(e.name);
}

/** The answer to a call that threw: 500 with an error id for a bug (logged with it), else 503 "send again". */
export function failureOf(err: unknown): RoomRefusal & { status: 500 | 503; errorId?: string } {
  if (isBug(err)) {
    const errorId = crypto.randomUUID();
    console.log(JSON.stringify({ event: "room-error", errorId, error: String(err), stack: (err as Error).stack }));
    return { status: 500, error: `server error ${errorId}: sending again will not help`, errorId };
  }
  const { overloaded } = (err ?? {}) as { overloaded?: boolean };
  console.log(JSON.stringify({ event: "room-unavailable", error: String(err) }));
  return { status: 503, error: "room temporarily unavailable; retry with the same id", retryAfter: overloaded ? 5 : 1 };
}
