// Sends one message until the server answers. The id is chosen here, once, so a
// retry after a lost response can never create a duplicate (the server answers
// the stored message for a known id).
import type { Message } from "../../shared/message";
import { HttpError, describeError } from "../../client/http";
import { jitter } from "../dom";
import { postComment, type NewMessage } from "./api";

export type SendEvents = {
  onRetry(id: string, reason: string): void;
  onAcked(message: Message): void;
  onRejected(id: string, reason: string): void;
};

const MAX_BACKOFF_MS = 15_000;

export async function sendUntilAnswered(message: NewMessage, events: SendEvents): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      const { body } = await postComment(message);
      events.onAcked(body);
      return;
    } catch (err) {
      if (err instanceof HttpError && err.isRejection) {
        events.onRejected(message.id, err.message);
        return;
      }
      events.onRetry(message.id, describeError(err));
      const backoff = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** attempt);
      const wait = err instanceof HttpError && err.retryAfterMs ? err.retryAfterMs : jitter(backoff / 2, backoff);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
