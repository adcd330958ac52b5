// One message sent up a room's socket, answered by the ack or nack carrying its id.
// A socket gives no answer when the connection drops or the room never replies; the
// caller then sends again with the same id (the room acks a known id with created:
// false), so "no answer" is safe to retry and never means "not stored".
import type { SendFrame, ServerFrame } from "../shared/frames";

export type AckFrame = Extract<ServerFrame, { type: "ack" }>;
export type NackFrame = Extract<ServerFrame, { type: "nack" }>;
export type SocketAnswer = AckFrame | NackFrame | { type: "no-answer"; reason: string };

/** What the sender needs of a socket: LiveSocket, or anything that sends frames up. */
export type FrameLink = {
  /** false when the frame could not go out (the socket is not open) */
  send(frame: SendFrame): boolean;
};

/** Long enough for a busy room, short enough that a silently dead socket does not stall a message. */
export const SOCKET_ANSWER_WITHIN_MS = 5_000;

type Waiter = (answer: SocketAnswer) => void;

export class SocketSender {
  /** Sends waiting for their answer, by message id (the same id may be waited on twice). */
  private readonly waiting = new Map<string, Waiter[]>();

  constructor(
    private readonly link: FrameLink,
    private readonly answerWithinMs = SOCKET_ANSWER_WITHIN_MS,
  ) {}

  send(frame: SendFrame): Promise<SocketAnswer> {
    if (!this.link.send(frame)) return Promise.resolve({ type: "no-answer", reason: "the socket is not open" });
    return new Promise((resolve) => {
      const waiter: Waiter = (answer) => {
        clearTimeout(timer);
        resolve(answer);
      };
      const timer = setTimeout(() => {
        this.forget(frame.id, waiter);
        resolve({ type: "no-answer", reason: "no answer over the socket" });
      }, this.answerWithinMs);
      this.waiting.set(frame.id, [...(this.waiting.get(frame.id) ?? []), waiter]);
    });
  }

  /** Hands an ack or nack to the sends waiting for its id; false for any other frame. */
  receive(frame: ServerFrame): boolean {
    if (frame.type !== "ack" && frame.type !== "nack") return false;
    const waiters = this.waiting.get(frame.id) ?? [];
    this.waiting.delete(frame.id);
    for (const waiter of waiters) waiter(frame);
    return true;
  }

  /** The socket closed: answers still on the way are lost with it. */
  dropped(): void {
    const waiters = [...this.waiting.values()].flat();
    this.waiting.clear();
    for (const waiter of waiters) waiter({ type: "no-answer", reason: "the socket closed" });
  }

  /** A timed-out send stops waiting; other sends of the same id keep waiting. */
  private forget(id: string, waiter: Waiter): void {
    const left = (this.waiting.get(id) ?? []).filter((other) => other !== waiter);
    if (left.length) this.waiting.set(id, left);
    else this.waiting.delete(id);
  }
}
