// The bot's queue order, one copy for the room and the bot: senders take turns. Each
// sender's oldest open prompt comes first, then each one's second, and so on; within a turn,
// oldest first. So one sender's flood waits behind everyone else's next prompt instead of
// ahead of it.

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

/** `items` (oldest first) in round-robin order by sender. */
export function roundRobin<T>(items: readonly T[], senderOf: (item: T) => string): T[] {
  const turns = turnsOf(items, senderOf);
  return items
    .map((item, at) => ({ item, at, turn: turns[at]! }))
    .sort((a, b) => a.turn - b.turn || a.at - b.at)
    .map(({ item }) => item);
}

/** Why a prompt past the cap was not queued (the message still posts: people talk on while the bot is busy). */
export const notQueued = (cap: number): string =>
  `not queued for the bot: you already have ${cap} prompts waiting in this room; ` +
  "ask again (Regenerate) once they are answered";
