// What the room answers to a frame a client sent over its socket. Pure: the room
// supplies its state, its post limit and its store, so the rules read in one place
// and test alone.
import type { ServerFrame } from "../shared/frames";
import { MAX_FRAME_BYTES } from "../shared/frames";
import { DELETED_ERROR, type Message } from "../shared/message";
import { describeZodError, sendFrameSchema, stopFrameSchema } from "../shared/schemas";
import { failureOf, type RoomRefusal } from "./calls";

/** `none`: the frame's effect reaches every socket as a push (Stop), so no answer of its own. */
export type SocketAnswer = { type: "send"; frame: ServerFrame } | { type: "close"; code: number; reason: string } | { type: "none" };

export type SocketDeps = {
  active(): boolean;
  leftDoMode: RoomRefusal;
  /** the stored message with this id, if any: a resend is answered without counting against the limit */
  known(id: string): Message | null;
  /** counts one new message against this socket's client (and the room's own caps): null when it may be stored */
  limit(): Promise<RoomRefusal | null>;
  /** may the room write now (still in do mode, listed for flips)? Checked after the limit, a call out of the room */
  admit(): Promise<boolean>;
  store(input: { id: string; text: string; author: string }): { message: Message; created: boolean };
  /** Stop pressed on the reply being written with this id; false when no reply of that id is being written */
  stop(id: string): boolean;
};

const close = (code: number, reason: string): SocketAnswer => ({ type: "close", code, reason });
const send = (frame: ServerFrame): SocketAnswer => ({ type: "send", frame });

export async function handleClientFrame(data: string | ArrayBuffer, deps: SocketDeps): Promise<SocketAnswer> {
  // In bytes: a string's length counts UTF-16 units, and one unit takes up to three bytes.
  const size = typeof data !== "string" ? data.byteLength : data.length * 3 <= MAX_FRAME_BYTES ? data.length : new TextEncoder().encode(data).byteLength;
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
  if (type === "stop") return stopStream(frame, deps);
  if (type !== "send") return close(1008, "unknown frame type");
  const id = (frame as { id?: unknown }).id;
  const parsed = sendFrameSchema.safeParse(frame);
  if (!parsed.success) {
    if (typeof id !== "string") return close(1008, "a send frame needs an id");
    return send({ type: "nack", id, status: 400, error: describeZodError(parsed.error) });
  }
  const input = { id: parsed.data.id, text: parsed.data.text, author: parsed.data.author ?? "anonymous" };
  const leftDoMode = (): SocketAnswer => {
    const { status, error, mode } = deps.leftDoMode;
    return send({ type: "nack", id: input.id, status, error, ...(mode ? { mode } : {}) });
  };
  if (!deps.active()) return leftDoMode();
  const known = deps.known(input.id);
  if (known?.deleted) return send({ type: "nack", id: input.id, status: 410, error: `id: ${DELETED_ERROR}` });
  if (known) return send({ type: "ack", id: known.id, message: known, created: false });
  try {
    const limited = await deps.limit();
    if (limited) return send({ type: "nack", id: input.id, ...limited });
    // The limiter is a call out of the room: it may have left do mode meanwhile.
    if (!(await deps.admit())) return leftDoMode();
    const { message, created } = deps.store(input);
    return send({ type: "ack", id: message.id, message, created });
  } catch (err) {
    // As over HTTP: a passing failure is "send again" (503), a bug is final (500 with an error id).
    const { status, error, retryAfter } = failureOf(err);
    return send({ type: "nack", id: input.id, status, error, ...(retryAfter ? { retryAfter } : {}) });
  }
}

/** Stop on a reply being written: anyone in the room may press it; the stream's pushes tell everyone. */
function stopStream(frame: unknown, deps: SocketDeps): SocketAnswer {
  const parsed = stopFrameSchema.safeParse(frame);
  if (!parsed.success) return close(1008, `stop: ${describeZodError(parsed.error)}`);
  if (!deps.active()) return send({ type: "nack", id: parsed.data.id, status: 409, error: "room is not in do mode: nothing is streamed", mode: "kv" });
  if (deps.stop(parsed.data.id)) return { type: "none" };
  return send({ type: "nack", id: parsed.data.id, status: 404, error: "no reply with this id is being written" });
}
