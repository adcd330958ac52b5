// The soak's verdict on every acknowledged message, by the mode that acknowledged it:
// in its room exactly once, or lost; and no human message answered twice.
//  - do: the room's log is complete, so an acknowledged id missing from it is lost.
//  - kv: a room keeps its newest 200 only. An id missing at the end that at least 200
//    newer acknowledged messages of its room could have pushed out before its kv phase
//    ended is "beyond window": delivered if anyone saw it, lost if nobody ever did.
//    Any other missing kv id is lost (a read-modify-write overwrote it).
//  - a human message with two replies counts against do when do acknowledged both, or
//    acknowledged one while the other already stood in its log; else against kv.
import type { FirstCheck } from "../../src/client/verifier";
import { CACHE_SIZE, type PathMode, type Message } from "../../src/shared/message";
import type { ModeBook } from "./modes";
import type { RoomContents } from "./read-rooms";

export type Kind = "human" | "ai";

/** One acknowledged message, as its sender recorded it. */
export type AckedMessage = {
  id: string;
  room: string;
  kind: Kind;
  /** the mode that acknowledged it */
  mode: PathMode;
  createdAt: number;
  ackedAt: number;
  firstCheck?: FirstCheck;
  healsReadded: number;
};

/** An AI reply and the human message it answers, from wherever it was learned. */
export type ReplyLink = { id: string; replyTo: string; room: string; mode: PathMode | null; createdAt: number | null };

export type AuditRow = {
  acknowledged: number;
  /** the sender's first check did not find it */
  missingWithoutHeal: number;
  /** a heal put it back */
  healed: number;
  lostForGood: number;
  /** kv: older than the 200-message window, and seen while it was in it */
  beyondWindow: number;
  /** ids shown more than once in one list */
  duplicates: number;
  /** human messages with more than one AI reply */
  answeredTwice: number;
};

export type LostMessage = {
  id: string;
  room: string;
  kind: Kind;
  createdAt: number;
  ackedAt: number;
  firstCheck: string | null;
  everSeen: boolean;
};
/** `inRoom`: the reply stands in its room at the end (its log, or a kv room's list); `seq`: its place in the log. */
export type DoubleAnswer = {
  humanId: string;
  room: string;
  replies: { id: string; mode: PathMode | null; inRoom: boolean; seq: number | null }[];
};

export type ModeAudit = {
  human: AuditRow;
  ai: AuditRow;
  lost: LostMessage[];
  duplicateIds: string[];
  answeredTwice: DoubleAnswer[];
};

export type AuditInput = {
  acked: AckedMessage[];
  rooms: RoomContents[];
  book: ModeBook;
  /** some tab or bot check received it during the run */
  seen(id: string): boolean;
  /** ids some list showed twice during the run */
  duplicatesSeen: ReadonlySet<string>;
  /** every reply the bots reported or the rooms hold */
  replies: ReplyLink[];
};

const emptyRow = (): AuditRow => ({
  acknowledged: 0,
  missingWithoutHeal: 0,
  healed: 0,
  lostForGood: 0,
  beyondWindow: 0,
  duplicates: 0,
  answeredTwice: 0,
});
const emptyAudit = (): ModeAudit => ({
  human: emptyRow(),
  ai: emptyRow(),
  lost: [],
  duplicateIds: [],
  answeredTwice: [],
});

export function audit(input: AuditInput): Record<PathMode, ModeAudit> {
  const result: Record<PathMode, ModeAudit> = { do: emptyAudit(), kv: emptyAudit() };
  const inRoom = countIds(input.rooms);
  const newer = newerCounter(input.acked);
  const ackedById = new Map(input.acked.map((m) => [m.id, m]));

  for (const m of input.acked) {
    const side = result[m.mode];
    const row = side[m.kind];
    row.acknowledged++;
    if (m.firstCheck === "missing") row.missingWithoutHeal++;
    if (m.healsReadded > 0) row.healed++;
    if ((inRoom.get(m.id) ?? 0) > 0) continue;
    const everSeen = input.seen(m.id);
    const couldScrollOut =
      m.mode === "kv" && newer(m.room, m.createdAt, input.book.kvPhaseEnd(m.room, m.ackedAt)) >= CACHE_SIZE;
    if (couldScrollOut && everSeen) {
      row.beyondWindow++;
      continue;
    }
    row.lostForGood++;
    side.lost.push({
      id: m.id,
      room: m.room,
      kind: m.kind,
      createdAt: m.createdAt,
      ackedAt: m.ackedAt,
      firstCheck: m.firstCheck ?? null,
      everSeen,
    });
  }

  const duplicates = new Set([...input.duplicatesSeen, ...duplicatedInReads(input.rooms)]);
  const messages = allMessages(input.rooms);
  for (const id of duplicates) {
    const acked = ackedById.get(id);
    const message = messages.get(id);
    const mode = acked?.mode ?? (message ? input.book.modeAt(message.room, message.createdAt) : "kv");
    result[mode][acked?.kind ?? message?.kind ?? "human"].duplicates++;
    result[mode].duplicateIds.push(id);
  }

  for (const double of doubleAnswers(input.replies, messages, input.book)) {
    const mode: PathMode = double.replies.every((r) => r.mode === "do") || refusalMissed(double) ? "do" : "kv";
    result[mode].human.answeredTwice++;
    result[mode].answeredTwice.push(double);
  }
  return result;
}

/**
 * A do room must refuse a second reply. It had what it needed to when it acknowledged a
 * reply while another reply to the same message already stood earlier in its log (a lower
 * seq: e.g. merged from the kv cache at a flip): that double answer counts against do. One
 * whose other reply the do room never held, or got only later (a heal), counts against kv.
 */
function refusalMissed(double: DoubleAnswer): boolean {
  return double.replies.some(
    (r) =>
      r.mode === "do" && r.seq !== null && double.replies.some((other) => other.seq !== null && other.seq < r.seq!),
  );
}

/** How many times each id stands in the rooms at the end (a kv room's list and its log hold the same id once each). */
function countIds(rooms: RoomContents[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const room of rooms) for (const m of room.log) counts.set(m.id, (counts.get(m.id) ?? 0) + 1);
  return counts;
}

function duplicatedInReads(rooms: RoomContents[]): string[] {
  const duplicated: string[] = [];
  for (const read of rooms.flatMap((room) => [room.log, room.kvList ?? []])) {
    const ids = new Set<string>();
    for (const m of read) {
      if (ids.has(m.id)) duplicated.push(m.id);
      ids.add(m.id);
    }
  }
  return duplicated;
}

function allMessages(rooms: RoomContents[]): Map<string, Message> {
  return new Map(rooms.flatMap((room) => [...(room.kvList ?? []), ...room.log]).map((m) => [m.id, m]));
}

/** Acknowledged messages of `room` created in (after, until]: the ones that could push an older one out of a 200-message window. */
function newerCounter(acked: AckedMessage[]): (room: string, after: number, until: number) => number {
  const byRoom = new Map<string, number[]>();
  for (const m of acked) byRoom.set(m.room, [...(byRoom.get(m.room) ?? []), m.createdAt]);
  for (const times of byRoom.values()) times.sort((a, b) => a - b);
  return (room, after, until) => {
    const times = byRoom.get(room) ?? [];
    return firstAbove(times, until) - firstAbove(times, after);
  };
}

/** The index of the first value above `x` in an ascending array. */
function firstAbove(sorted: number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Human messages with more than one distinct reply, from the bots' reports and the rooms'
 * contents together. A reply no bot reported as acknowledged gets its room's mode when it
 * was created.
 */
function doubleAnswers(replies: ReplyLink[], messages: Map<string, Message>, book: ModeBook): DoubleAnswer[] {
  const byHuman = new Map<string, Map<string, ReplyLink>>();
  const add = (link: ReplyLink) => {
    const known = byHuman.get(link.replyTo) ?? new Map<string, ReplyLink>();
    const before = known.get(link.id);
    // The mode a bot saw acknowledge it wins over the one guessed from the room's timeline.
    known.set(link.id, before ?? link);
    byHuman.set(link.replyTo, known);
  };
  for (const link of replies) add(link);
  for (const m of messages.values()) {
    if (m.kind === "ai" && m.replyTo)
      add({
        id: m.id,
        replyTo: m.replyTo,
        room: m.room,
        mode: book.modeAt(m.room, m.createdAt),
        createdAt: m.createdAt,
      });
  }
  return [...byHuman]
    .filter(([, links]) => links.size > 1)
    .map(([humanId, links]) => ({
      humanId,
      room: [...links.values()][0]!.room,
      replies: [...links.values()].map(({ id, mode }) => ({
        id,
        mode,
        inRoom: messages.has(id),
        seq: messages.get(id)?.seq ?? null,
      })),
    }));
}
