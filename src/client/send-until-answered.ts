// Sends one message until the server answers it: over the room's socket when the
// room takes sends there (open, do mode), else with POST /api/comments. The caller
// picks the id once, so every retry on either path is the same message: the server
// answers a known id with the stored one and writes nothing. Used by the page and
// by the race lab's tabs, so the lab measures the page's sending.
import { jitter } from "../shared/cadence";
import type { Message } from "../shared/message";
import { HttpError, describeError } from "./http";
import type { SocketSender } from "./socket-send";

/** `editKey`: the secret the author will edit the message with (do rooms keep its hash). */
export type OutgoingMessage = { id: string; room: string; text: string; author?: string; editKey?: string };

export type SendPaths = {
  /** The room socket's sender when the room takes sends over it now; null: post over HTTP. */
  socket(): SocketSender | null;
  /** POST /api/comments; throws HttpError. */
  post(message: OutgoingMessage): Promise<Message>;
};

/** Why the loop waits before the next attempt. */
export type RetryInfo = {
  /** the server said we send too fast (429): the message waits its turn, nothing is wrong */
  slowedDown: boolean;
  /** how long until the next attempt */
  waitMs: number;
};

export type SendOptions = {
  /** a failed attempt, before waiting to send again (the reason is for people) */
  onRetry?(reason: string, info: RetryInfo): void;
  /** give up after this many failed attempts (the lab has a deadline; the page never gives up) */
  maxAttempts?: number;
  /** asked after a failed attempt: a closed tab stops sending */
  cancelled?(): boolean;
};

export type SendResult =
  | { acked: true; message: Message; via: "socket" | "http" }
  /** rejected: the server refused it (4xx) or failed on it MAX_SERVER_ERRORS times (500), sending again cannot help; else we gave up */
  | { acked: false; reason: string; rejected: boolean };

/** One try on one path, as the loop sees it. */
type Attempt =
  | { kind: "acked"; message: Message }
  | { kind: "rejected"; reason: string }
  /** the room left do mode (nack 409, mode kv): post over HTTP at once */
  | { kind: "left-do" }
  | { kind: "retry"; reason: string; retryAfterMs?: number; slowedDown?: boolean; serverError?: boolean };

const MAX_BACKOFF_MS = 15_000;
/**
 * Sends the server answered 500 (a bug on its side, with an error id) before the loop gives
 * up and shows the error: the same message would meet the same bug; a 503 or no answer is
 * a passing failure and is sent again without limit.
 */
export const MAX_SERVER_ERRORS = 3;

export async function sendUntilAnswered(
  message: OutgoingMessage,
  paths: SendPaths,
  options: SendOptions = {},
): Promise<SendResult> {
  let httpOnly = false;
  let serverErrors = 0;
  for (let failures = 0; ;) {
    const socket = httpOnly ? null : paths.socket();
    const attempt = socket ? await sendOverSocket(socket, message) : await postOverHttp(paths, message);
    httpOnly = false;
    switch (attempt.kind) {
      case "acked":
        return { acked: true, message: attempt.message, via: socket ? "socket" : "http" };
      case "rejected":
        return { acked: false, reason: attempt.reason, rejected: true };
      case "left-do":
        httpOnly = true;
        continue;
      case "retry": {
        failures++;
        if (attempt.serverError && ++serverErrors >= MAX_SERVER_ERRORS)
          return { acked: false, reason: attempt.reason, rejected: true };
        if (failures >= (options.maxAttempts ?? Infinity) || options.cancelled?.())
          return { acked: false, reason: attempt.reason, rejected: false };
        const backoff = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (failures - 1));
        const waitMs = attempt.retryAfterMs ?? jitter(backoff / 2, backoff);
        options.onRetry?.(attempt.reason, { slowedDown: attempt.slowedDown ?? false, waitMs });
        await new Promise((resolve) => setTimeout(resolve, waitMs));
      }
    }
  }
}

async function sendOverSocket(socket: SocketSender, message: OutgoingMessage): Promise<Attempt> {
  const { id, text, author, editKey } = message;
  const answer = await socket.send({
    type: "send",
    id,
    text,
    ...(author ? { author } : {}),
    ...(editKey ? { editKey } : {}),
  });
  if (answer.type === "ack") return { kind: "acked", message: answer.message };
  if (answer.type === "no-answer") return { kind: "retry", reason: answer.reason };
  if (answer.status === 409 && answer.mode === "kv") return { kind: "left-do" };
  // The same status and error text HTTP would answer: judged by the same rules.
  return judgeRefusal(
    new HttpError(answer.status, answer.error, answer.retryAfter ? answer.retryAfter * 1000 : undefined),
  );
}

async function postOverHttp(paths: SendPaths, message: OutgoingMessage): Promise<Attempt> {
  try {
    return { kind: "acked", message: await paths.post(message) };
  } catch (err) {
    return judgeRefusal(err);
  }
}

/** A 4xx is final; no answer, a 5xx or a 429 is worth sending again (after Retry-After, if given). */
function judgeRefusal(err: unknown): Attempt {
  if (err instanceof HttpError && err.isRejection) return { kind: "rejected", reason: err.message };
  const http = err instanceof HttpError ? err : null;
  return {
    kind: "retry",
    reason: describeError(err),
    ...(http?.retryAfterMs ? { retryAfterMs: http.retryAfterMs } : {}),
    ...(http?.status === 429 ? { slowedDown: true } : {}),
    ...(http?.status === 500 ? { serverError: true } : {}),
  };
}
