// The bot-lease rules, one copy for both paths: the kv path applies them inside its
// (racy) read-modify-write, the Room DO atomically. A refusal is a 4xx for the bot.
import type { Message } from "../shared/message";

/** 410: the message was deleted by an operator (final). */
export type Refusal = { status: 400 | 404 | 409 | 410; error: string };

/** Another bot holds a lease that has not run out. */
export function heldByOther(message: Message, botId: string, now: number): boolean {
  return message.status === "processing" && message.claimedBy !== botId && (message.leaseUntil ?? 0) > now;
}

/** A claim succeeds for a pending message, an expired lease, or a renewal by the holder. */
export function refuseClaim(message: Message, botId: string, now: number): Refusal | null {
  if (message.kind !== "human") return { status: 400, error: "only human messages can be claimed" };
  if (message.status === "complete" || message.status === "failed")
    return { status: 409, error: `message is already ${message.status}` };
  if (heldByOther(message, botId, now)) return { status: 409, error: `message is claimed by ${message.claimedBy}` };
  return null;
}

export function refuseRelease(message: Message, botId: string): Refusal | null {
  if (message.status !== "processing" || message.claimedBy !== botId)
    return { status: 409, error: "message is not claimed by this bot" };
  return null;
}

/** Only the holder of a live claim may finish a message, or any bot once it has waited unclaimed for `graceMs`. */
function refuseFinish(message: Message, botId: string, now: number, graceMs: number, what: string): Refusal | null {
  if (heldByOther(message, botId, now)) return { status: 409, error: `message is claimed by ${message.claimedBy}` };
  const holdsLiveClaim =
    message.status === "processing" && message.claimedBy === botId && (message.leaseUntil ?? 0) > now;
  if (holdsLiveClaim || now - message.createdAt >= graceMs) return null;
  return { status: 409, error: `claim the message before ${what}` };
}

export function refuseFail(message: Message, botId: string, now: number, graceMs: number): Refusal | null {
  if (message.kind !== "human") return { status: 400, error: "only human messages can fail" };
  if (message.status === "complete" || message.status === "failed")
    return { status: 409, error: `message is already ${message.status}` };
  return refuseFinish(message, botId, now, graceMs, "marking it failed");
}

/** Answering (do mode, where the room applies it atomically): the same rule as failing. */
export function refuseReply(message: Message, botId: string, now: number, graceMs: number): Refusal | null {
  if (message.status === "complete") return { status: 409, error: "message was already answered" };
  return refuseFinish(message, botId, now, graceMs, "answering it");
}

/** UNCLAIMED_GRACE_MS, with its documented default when unset or not a number. */
export const unclaimedGraceMs = (value: string | undefined): number =>
  value && Number.isFinite(Number(value)) ? Number(value) : 600_000;

/** A claimable human message: pending, or processing with an expired lease. The one copy of this rule. */
export function isClaimable(message: Message, now: number): boolean {
  // A kv list keeps a deleted message's tombstone (with its old status) in its place.
  if (message.kind !== "human" || message.deleted) return false;
  if (message.status === "pending") return true;
  return message.status === "processing" && (message.leaseUntil ?? 0) <= now;
}
