// WebSocket frames pushed by the Room DO, one union for the Worker, the page and the bot.
import type { CacheMode, Message } from "./message";

export type ServerFrame =
  /** sent once on connect: the room's newest seq, so the client can catch up with `since` */
  | { type: "hello"; room: string; lastSeq: number }
  /** a new message in the room log */
  | { type: "message"; message: Message }
  /** a status change of a message already in the log (claimed, completed, failed, released) */
  | { type: "update"; message: Message }
  /** the room left do mode: stop expecting pushes and poll */
  | { type: "mode"; mode: CacheMode }
  | { type: "pong" };

export type ClientFrame = { type: "ping" };

export const PING_FRAME = JSON.stringify({ type: "ping" } satisfies ClientFrame);
export const PONG_FRAME = JSON.stringify({ type: "pong" } satisfies ServerFrame);
