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

/** The room socket as the sender sees it (LiveSocket.reconnected; `sender`: null unless the room takes sends over it). */
export type SocketLink = { sender(): SocketSender | null; reconnected(withinMs: number): Promise<unknown> };

/** Sends until answered and reports how it ended. */
export async function sendAndReport(message: OutgoingMessage, socket: SocketLink, events: SendEvents): Promise<void> {
  const result = await sendUntilAnswered(
    message,
    {
      socket: () => socket.sender(),
      post: async (outgoing) => (await postComment(outgoing)).body,
      reconnected: (withinMs) => socket.reconnected(withinMs),
    },
    { onRetry: (reason, { slowedDown }) => events.onRetry(message.id, reason, slowedDown) },
  );
  // The page never gives up, so a result that is not an ack is a rejection.
  if (result.acked) events.onAcked(result.message);
  else events.onRejected(message.id, result.reason);
}
