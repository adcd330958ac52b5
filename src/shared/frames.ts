// WebSocket frames between a room's Durable Object and its clients: one union per
// direction, imported by the Worker, the page, the bot and the lab.
import type { PathMode, Message } from "./message";
import type { LiveStream, StreamFrame } from "./stream";

export type ServerFrame =
  /**
   * sent once on connect: the room's newest change position (catch up with `since`), its path,
   * and the AI replies being written right now with their text so far (later `stream` frames continue them)
   */
  | {
      type: "hello";
      room: string;
      lastPos: number;
      /** @deprecated the same as lastPos */
      lastSeq: number;
      mode: PathMode;
      streams?: LiveStream[];
      /** who is here (do rooms) */
      presence?: Presence;
    }
  /** who is here now, after people came, went or named themselves, or a bot's state changed (coalesced) */
  | ({ type: "presence" } & Presence)
  /** someone in the room is typing (never stored; at most one per socket every TYPING_EVERY_MS) */
  | { type: "typing"; name: string }
  /** an AI reply growing (batched, at most one per stream every STREAM_PUSH_MS), or its state changing */
  | StreamFrame
  /** a new message in the room log */
  | { type: "message"; message: Message }
  /** a status change of a message already in the log (claimed, completed, failed, released), or its deletion (`message.deleted`: remove it) */
  | { type: "update"; message: Message }
  /** the room left do mode: stop expecting pushes, poll, and post over HTTP */
  | { type: "mode"; mode: PathMode }
  /** a `send` was stored (created: false when the id was already in the log) */
  | { type: "ack"; id: string; message: Message; created: boolean }
  /**
   * a `send` was refused, with the status and error text HTTP `POST /api/comments` would
   * answer; `mode: "kv"` with 409 means the room left do mode: post over HTTP instead.
   */
  | { type: "nack"; id: string; status: number; error: string; mode?: PathMode; retryAfter?: number }
  | { type: "pong" }
  /** this socket sends frames faster than a room takes them: the frame was dropped; once more and the socket is closed (4429) */
  | { type: "slow-down"; error: string };

/** `editKey`: the secret the author will edit this message with (see POST /api/comments). */
export type SendFrame = { type: "send"; id: string; text: string; author?: string; editKey?: string };

/** ask the bot writing reply `id` to stop (only its asker: `editKey` of the question); it posts the text so far, stopped */
export type StopFrame = { type: "stop"; id: string; editKey?: string };

/** the name this socket's person goes by in the room's presence (the composer's name) */
export type PresenceFrame = { type: "presence"; name: string };

export type ClientFrame = { type: "ping" } | SendFrame | StopFrame | PresenceFrame | { type: "typing" };

/** What a bot is doing in a room: waiting for work, holding a claim, or streaming a reply. */
export type BotState = "idle" | "thinking" | "writing";

/**
 * Who is in a room now: `count` open sockets; `people` by name (unnamed sockets go by
 * "anonymous"); the bots that asked the room for work within BOT_AWAY_MS, with how long ago.
 */
export type Presence = {
  count: number;
  people: { name: string; sockets: number }[];
  bots: { id: string; state: BotState; seenAgoMs: number }[];
  /** The bots the operator set to serve this room (`default`: unmentioned messages go to it). */
  serving?: { name: string; model: string; default?: true }[];
};

/** Every frame type by direction, at run time (docs/api.md must name each); the compiler keeps them complete. */
export const SERVER_FRAME_TYPES = everyType<ServerFrame["type"]>()([
  "hello",
  "stream",
  "message",
  "update",
  "mode",
  "ack",
  "nack",
  "pong",
  "slow-down",
  "presence",
  "typing",
]);
export const CLIENT_FRAME_TYPES = everyType<ClientFrame["type"]>()(["ping", "send", "stop", "presence", "typing"]);

/** Accepts a list only when it holds every member of the union T. */
function everyType<T extends string>() {
  return <const L extends readonly T[]>(list: L & ([Exclude<T, L[number]>] extends [never] ? unknown : never)) => list;
}

/** The largest frame a client may send: the same 16 KB as an HTTP body. */
export const MAX_FRAME_BYTES = 16 * 1024;

export const PING_FRAME = JSON.stringify({ type: "ping" } satisfies ClientFrame);
export const PONG_FRAME = JSON.stringify({ type: "pong" } satisfies ServerFrame);

/**
 * A room past its socket caps accepts the upgrade and closes it at once with one of
 * these (4000 + the HTTP status), the reason saying why: browsers cannot read the
 * status of a refused upgrade, but they do see a close code. The client polls instead
 * and tries its socket again much later.
 */
export const TOO_MANY_SOCKETS_CLOSE = 4429;
export const ROOM_FULL_CLOSE = 4503;
export const REFUSED_SOCKET_CLOSES: readonly number[] = [TOO_MANY_SOCKETS_CLOSE, ROOM_FULL_CLOSE];
