// The bot's queue order: senders take turns. Each sender's oldest open prompt comes first,
// then each one's second, and so on; within a turn, oldest first. So one sender's flood waits
// behind everyone else's next prompt instead of ahead of it.

/** Open prompts (pending or being answered) one sender may have queued for the bot in a room, by default. */
export const BOT_QUEUE_PER_SENDER = 5;

/** BOT_QUEUE_PER_SENDER from its variable ("0": no cap). */
export function queuePerSender(value: string | undefined): number {
  const n = Number(value);
  return value !== undefined && value.trim() !== "" && Number.isInteger(n) && n >= 0 ? n : BOT_QUEUE_PER_SENDER;
}

/**
 * Each item's turn: 0 for its sender's oldest, 1 for the next... `items` come oldest first.
 * Sorting by (turn, place in `items`) is the round-robin order.
 */
export function turnsOf<T>(items: readonly T[], senderOf: (item: T) => string): number[] {
  const seen = new Map<string, number>();
  return items.map((item) => {
    const sender = senderOf(item);
    const turn = seen.get(sender) ?? 0;
    seen.set(sender, turn + 1);
    return turn;
  });
}

/**
 * `open` prompts in round-robin order. Turns are counted over `recent`: the room's recent
 * prompts, answered or not (oldest first), so a sender just served waits behind one who has
 * not been; an open prompt beyond `recent` comes last.
 */
export function inTurns<T extends { seq: number; sender: string }>(
  open: readonly T[],
  recent: readonly { seq: number; sender: string }[],
): T[] {
  const turns = turnsOf(recent, (prompt) => prompt.sender);
  const turnOf = new Map(recent.map((prompt, at) => [prompt.seq, turns[at]!]));
  const last = Number.MAX_SAFE_INTEGER;
  return [...open].sort((a, b) => (turnOf.get(a.seq) ?? last) - (turnOf.get(b.seq) ?? last) || a.seq - b.seq);
}

/** Why a prompt past the cap was not queued (the message still posts: people talk on while the bot is busy). */
export const notQueued = (cap: number): string =>
  `not queued for the bot: you already have ${cap} prompts waiting in this room; ` +
  "ask again (Regenerate) once they are answered";
