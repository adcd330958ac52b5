// One room's storage path. The Worker picks kv (legacy, racy) or do (serialized)
// per request from the flag; handlers only ever talk to this interface.
import type { CacheMode, Message } from "../../shared/message";

export type ListQuery = { limit: number; since?: number };

export interface RoomPath {
  readonly mode: CacheMode;
  /** Adds a stored message to the room's recent list. */
  append(message: Message): Promise<{ message: Message; created: boolean }>;
  list(query: ListQuery): Promise<{ comments: Message[]; lastSeq?: number }>;
  /** Re-adds a message whose KV record exists; `readded` is false when it was already there. */
  heal(record: Message): Promise<{ message: Message; readded: boolean }>;
  /** Human messages waiting for a reply, including those whose bot lease ran out. */
  pending(now: number): Promise<Message[]>;
  claim(messageId: string, botId: string, leaseMs: number, now: number): Promise<Message>;
  release(messageId: string, botId: string): Promise<Message>;
  fail(messageId: string, botId: string, reason: string, now: number): Promise<Message>;
  /** Adds an AI reply and completes the human message it answers (`human` is its KV record). */
  reply(ai: Message, human: Message, botId: string): Promise<{ message: Message; human: Message | null; created: boolean }>;
}

/** A claimable human message: pending, or processing with an expired lease. */
export function isClaimable(message: Message, now: number): boolean {
  if (message.kind !== "human") return false;
  if (message.status === "pending") return true;
  return message.status === "processing" && (message.leaseUntil ?? 0) <= now;
}
