// The page's sending: the shared loop (src/client/send-until-answered.ts) over the
// room socket when the room takes sends there, else POST /api/comments. The id is
// chosen by the caller, once, so no retry on either path can create a duplicate.
import type { Message } from "../../shared/message";
import type { SocketSender } from "../../client/socket-send";
import { sendUntilAnswered, type OutgoingMessage } from "../../client/send-until-answered";
import { postComment } from "./api";

export type SendEvents = {
  /** `slowedDown`: the server said we send too fast; the message goes out when it allows */
  onRetry(id: string, reason: string, slowedDown: boolean): void;
  onAcked(message: Message): void;
  onRejected(id: string, reason: string): void;
};

/** Sends until answered and reports how it ended. `socket`: the room socket's sender while the room takes sends over it, else null. */
export async function sendAndReport(
  message: OutgoingMessage,
  socket: () => SocketSender | null,
  events: SendEvents,
): Promise<void> {
  const result = await sendUntilAnswered(
    message,
    { socket, post: async (outgoing) => (await postComment(outgoing)).body },
    { onRetry: (reason, { slowedDown }) => events.onRetry(message.id, reason, slowedDown) },
  );
  // The page never gives up, so a result that is not an ack is a rejection.
  if (result.acked) events.onAcked(result.message);
  else events.onRejected(message.id, result.reason);
}
