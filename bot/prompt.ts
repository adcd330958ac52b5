// Turns a room's recent messages into the chat turns sent to the model.
import type { Message } from "../src/shared/message";

export type ChatTurn = { role: "system" | "user" | "assistant"; content: string };

export function defaultSystemPrompt(room: string): string {
  return (
    `You are a friendly assistant in the group chat room #${room}. ` +
    "Each user message starts with the sender's name. Answer the last message briefly and helpfully, in plain text."
  );
}

/**
 * The last `contextSize` messages of the room up to and including `human` (room order,
 * oldest first), so the model answers that message and not a newer one. `human` is
 * added if the room's list does not hold it (e.g. it fell out of a kv-mode cache).
 */
export function buildTurns(history: Message[], human: Message, contextSize: number, systemPrompt?: string): ChatTurn[] {
  const index = history.findIndex((m) => m.id === human.id);
  const before = index >= 0 ? history.slice(0, index) : history.filter((m) => m.createdAt <= human.createdAt);
  // A kv list keeps deleted messages as tombstones (no text): they are no part of the conversation.
  const earlier = before.filter((m) => !m.deleted);
  const context = [...earlier.slice(-(contextSize - 1)), human].slice(-contextSize);
  return [
    { role: "system", content: systemPrompt ?? defaultSystemPrompt(human.room) },
    ...context.map((m): ChatTurn => (m.kind === "ai" ? { role: "assistant", content: m.text } : { role: "user", content: `${m.author}: ${m.text}` })),
  ];
}
