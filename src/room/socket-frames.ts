// What the room answers to a frame a client sent over its socket. Pure: the room
// supplies its state and its store, so the rules read in one place and test alone.
import type { ServerFrame } from "../shared/frames";
import { MAX_FRAME_BYTES } from "../shared/frames";
import type { Message } from "../shared/message";
import { describeZodError, sendFrameSchema } from "../shared/schemas";
import type { RoomRefusal } from "./room";

export type SocketAnswer = { type: "send"; frame: ServerFrame } | { type: "close"; code: number; reason: string };

export type SocketDeps = {
  active(): boolean;
  leftDoMode: RoomRefusal;
  store(input: { id: string; text: string; author: string }): { message: Message; created: boolean };
};

const close = (code: number, reason: string): SocketAnswer => ({ type: "close", code, reason });
const send = (frame: ServerFrame): SocketAnswer => ({ type: "send", frame });

export function handleClientFrame(data: string | ArrayBuffer, deps: SocketDeps): SocketAnswer {
  const size = typeof data === "string" ? data.length : data.byteLength;
  if (size > MAX_FRAME_BYTES) return close(1009, `frames must be at most ${MAX_FRAME_BYTES} bytes`);
  if (typeof data !== "string") return close(1003, "frames must be JSON text");
  let frame: unknown;
  try {
    frame = JSON.parse(data);
  } catch {
    return close(1008, "frames must be JSON");
  }
  const type = (frame as { type?: unknown } | null)?.type;
  // A ping spelled differently from PING_FRAME (which the runtime answers) still gets its pong.
  if (type === "ping") return send({ type: "pong" });
  if (type !== "send") return close(1008, "unknown frame type");
  const id = (frame as { id?: unknown }).id;
  const parsed = sendFrameSchema.safeParse(frame);
  if (!parsed.success) {
    if (typeof id !== "string") return close(1008, "a send frame needs an id");
    return send({ type: "nack", id, status: 400, error: describeZodError(parsed.error) });
  }
  if (!deps.active()) {
    const { status, error, mode } = deps.leftDoMode;
    return send({ type: "nack", id: parsed.data.id, status, error, ...(mode ? { mode } : {}) });
  }
  const { message, created } = deps.store({ id: parsed.data.id, text: parsed.data.text, author: parsed.data.author ?? "anonymous" });
  return send({ type: "ack", id: message.id, message, created });
}
