// The chat page's calls to the Worker API.
import type { CommentsResponse, HealResponse, RoomsResponse } from "../../shared/api";
import type { Message, MessageVersion, Reaction } from "../../shared/message";
import { requestJson } from "../../client/http";
import type { OutgoingMessage } from "../../client/send-until-answered";

/** `since`: changes after a position (catch-up); `before`: the page logged before a `seq` (scroll-back). */
export function listComments(room: string, query: { limit: number; since?: number; before?: number }) {
  const params = new URLSearchParams({ room, limit: String(query.limit) });
  if (query.since !== undefined) params.set("since", String(query.since));
  if (query.before !== undefined) params.set("before", String(query.before));
  return requestJson<CommentsResponse>(`/api/comments?${params}`);
}

export function postComment(message: OutgoingMessage) {
  return requestJson<Message>("/api/comments", { method: "POST", json: message });
}

/** `room`: where the message was posted (records are kept per room). */
export function healMessage(messageId: string, room: string) {
  return requestJson<HealResponse>("/api/admin/add-to-cache", { method: "POST", json: { messageId, room } });
}

export function listRooms() {
  return requestJson<RoomsResponse>("/api/rooms");
}

export function editMessage(room: string, id: string, edit: { text: string; version: number; editKey: string }) {
  return requestJson<Message>(`/api/comments/${id}/edit`, { method: "POST", json: { room, ...edit } });
}

export function messageVersions(room: string, id: string) {
  return requestJson<{ message: Message; versions: MessageVersion[] }>(
    `/api/comments/${id}/versions?${new URLSearchParams({ room })}`,
  );
}

export function reactTo(room: string, id: string, reaction: { emoji: Reaction; on: boolean; reactorKey: string }) {
  return requestJson<Message>(`/api/comments/${id}/reactions`, { method: "POST", json: { room, ...reaction } });
}

/** Ask again (the asker's edit key): the question is pending again; the next reply is its answer's next version. */
export function regenerateAnswer(room: string, id: string, ask: { requestId: string; editKey: string }) {
  return requestJson<Message>(`/api/comments/${id}/regenerate`, { method: "POST", json: { room, ...ask } });
}
