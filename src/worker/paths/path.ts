// One room's storage path. The Worker picks kv (legacy, racy) or do (serialized)
// per request from the flag; handlers only ever talk to this interface.
import type { PathMode, Message, MessageVersion } from "../../shared/message";
import type { StreamAck, StreamCall } from "../../shared/stream";
import type { Presence } from "../../shared/frames";
import type { Removal } from "../../room/log";
import type { Purged } from "../../room/calls";

/** `since`: forward from a change position (catch-up); `before`: backward from a `seq` (scroll-back, do rooms only). */
export type ListQuery = { limit: number; since?: number; before?: number };
/**
 * `creator`: the client key a new room counts against (ROOM_LIMITER); absent for the operator token.
 * `capExempt`: the creator's prompts are not capped per sender (an exempt or unknown client key).
 */
export type HumanInput = {
  id?: string;
  text: string;
  author?: string;
  creator?: string;
  editKey?: string;
  capExempt?: boolean;
};
/** Who asks to stop or regenerate: the asker's edit key, or `privileged` (a bot or operator token). */
export type AskerInput = { editKey?: string; privileged: boolean };
export type RegenerateInput = AskerInput & { id: string; requestId: string };
export type EditInput = { id: string; text: string; version: number; editKey: string };
export type ReactInput = { id: string; emoji: string; on: boolean; reactorKey: string };
export type ReplyInput = {
  id?: string;
  replyTo: string;
  text: string;
  author?: string;
  botId?: string;
  stopped?: boolean;
  /** the bots serving the room (do rooms: an unclaimed message addressed to another bot is refused) */
  roster?: string[];
};
export type Stored = { message: Message; created: boolean };
/** `deleted`: false when the message already was a tombstone. */
export type Deleted = { message: Message; deleted: boolean };

export interface RoomPath {
  readonly mode: PathMode;
  /** Stores a human message; a known id answers the stored message (created: false). */
  post(input: HumanInput): Promise<Stored>;
  /** Adds an AI reply and completes the human message it answers; one reply per message. */
  reply(input: ReplyInput): Promise<Stored>;
  /** One message of this room. */
  get(id: string): Promise<Message>;
  /** `more` (scroll-back pages): whether messages older than this page remain. */
  list(query: ListQuery): Promise<{ comments: Message[]; lastPos?: number; more?: boolean; presence?: Presence }>;
  /** Re-adds a message whose KV record exists; `readded` is false when it was already there. */
  heal(record: Message): Promise<{ message: Message; readded: boolean }>;
  /** Human messages waiting for a reply, including those whose bot lease ran out. */
  /**
   * `botId`: who asks, for the room's presence (do rooms). `roster`: the bots serving the room;
   * do rooms list and let claim only what is addressed to this bot or to none (kv rooms: anything).
   */
  pending(botId?: string, roster?: string[]): Promise<Message[]>;
  claim(messageId: string, botId: string, leaseMs: number, roster?: string[]): Promise<Message>;
  release(messageId: string, botId: string): Promise<Message>;
  /** `reason`: shown to everyone; `detail`: the bot's own words, for operators (do rooms keep the newest). */
  fail(messageId: string, botId: string, reason: string, detail?: string, roster?: string[]): Promise<Message>;
  /** The text of a reply being written (do rooms only; kv rooms refuse with 409 and mode kv). */
  stream(input: StreamCall): Promise<StreamAck>;
  /** Operator deletion: a tombstone in the room's log and KV record, gone from lists; idempotent. */
  delete(id: string): Promise<Deleted>;
  /** Operator purge: removes tombstones and/or messages created before a time (do rooms; kv rooms refuse with 409). */
  purge(which: Removal): Promise<Purged>;
  /** The author's new text, as the next version (do rooms; kv rooms refuse with 409). */
  edit(input: EditInput): Promise<Message>;
  /** Every earlier text of a message (do rooms). */
  versions(id: string): Promise<{ message: Message; versions: MessageVersion[] }>;
  /** One reactor's emoji on or off (do rooms). */
  react(input: ReactInput): Promise<Message>;
  /** Stop on the replies being written to a human message (do rooms; only its asker or a token holder). */
  stop(humanId: string, asker: AskerInput): Promise<{ stopped: number }>;
  /** Ask again: the human message is pending again, the next reply a new version of its answer (do rooms). */
  regenerate(input: RegenerateInput): Promise<Message>;
}
