// Checks a history (./history.ts) the way Jepsen checks a queue, per mode. One pass over
// the observations in time order and one over the operations, with maps keyed by id:
// linear in the history's size, so a soak's 20,000 sends and their reads check in a moment.
//
// A message's mode is the mode that acknowledged its send (its ok op); a message never
// acknowledged takes the mode of the read that showed it. An anomaly a read shows
// (duplicate, order, status, position) counts against do only when a do-answered read
// showed it: a kv-answered read is the legacy path speaking, whoever acknowledged the message.
import { inKvWindow } from "../../src/shared/message";
import type { History, Mode, Observation, Observed, SendOp, Status } from "./history";

export const ANOMALY_KINDS = [
  /** an ok send no read showed; do: also one first shown after a heal re-added it, or missing from a later whole log */
  "lostWrites",
  /** an id twice in one read */
  "duplicates",
  /** an id shown whose every send was refused (fail: a 4xx) */
  "abortedReads",
  /** an id shown that no operation sent */
  "phantoms",
  /** readers disagreeing on two messages' order, a message's log place changing, or positions going backwards */
  "orderAnomalies",
  /** a finished message (complete or failed) shown open again (pending or processing) to the same reader */
  "statusRegressions",
  /** a human message with two or more AI replies */
  "doubleAnswers",
] as const;
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];

export type Anomaly = { room: string; ids: string[]; reader?: string; at?: number; detail: string };
export type AnomalyTally = { count: number; examples: Anomaly[] };

export type ModeCheck = {
  /** sends this mode acknowledged */
  acknowledged: number;
  /** all anomalies of this mode */
  total: number;
  anomalies: Record<AnomalyKind, AnomalyTally>;
};

export type CheckReport = {
  ops: { sends: number; ok: number; fail: number; info: number; heals: number; readded: number };
  observations: number;
  readers: number;
  modes: Record<Mode, ModeCheck>;
};

export type CheckOptions = { examples?: number };

/**
 * Status ranks: open (pending, processing) then finished (complete, failed). A claim may be
 * released (its bot stopped or its lease ran out), so processing → pending is no regression.
 */
const RANK: Record<Status, number> = { pending: 0, processing: 0, complete: 1, failed: 1 };

type Tally = Record<AnomalyKind, AnomalyTally>;

class Tallies {
  readonly modes: Record<Mode, ModeCheck>;
  private readonly keys: Record<Mode, Set<string>> = { do: new Set(), kv: new Set() };

  constructor(private readonly maxExamples: number) {
    const empty = (): ModeCheck => {
      const anomalies = {} as Tally;
      for (const kind of ANOMALY_KINDS) anomalies[kind] = { count: 0, examples: [] };
      return { acknowledged: 0, total: 0, anomalies };
    };
    this.modes = { do: empty(), kv: empty() };
  }

  /** Counts an anomaly once per `key` (e.g. a duplicate shown by many reads is one duplicated id). */
  add(mode: Mode, kind: AnomalyKind, key: string, anomaly: Anomaly): void {
    const seen = this.keys[mode];
    const full = `${kind}\u0000${key}`;
    if (seen.has(full)) return;
    seen.add(full);
    const check = this.modes[mode];
    const tally = check.anomalies[kind];
    tally.count++;
    check.total++;
    if (tally.examples.length < this.maxExamples) tally.examples.push(anomaly);
  }
}

type ReplyLink = { room: string; seq: number | null };

export function checkHistory(history: History, options: CheckOptions = {}): CheckReport {
  const tallies = new Tallies(options.examples ?? 5);
  const ops = { sends: 0, ok: 0, fail: 0, info: 0, heals: 0, readded: 0 };

  // Operations, by id.
  const acked = new Map<string, SendOp>();
  const sendOutcomes = new Map<string, { ok: boolean; info: boolean; failMode: Mode | null }>();
  /** id → when the first heal that re-added it was invoked */
  const readdedAt = new Map<string, number>();
  for (const op of history.ops) {
    if (op.type === "heal") {
      ops.heals++;
      if (op.outcome === "ok" && op.readded) {
        ops.readded++;
        readdedAt.set(op.id, Math.min(readdedAt.get(op.id) ?? Infinity, op.invokeAt));
      }
      continue;
    }
    ops.sends++;
    ops[op.outcome]++;
    const outcomes = sendOutcomes.get(op.id) ?? { ok: false, info: false, failMode: null };
    if (op.outcome === "ok") {
      outcomes.ok = true;
      if (!acked.has(op.id)) acked.set(op.id, op);
    } else if (op.outcome === "info") outcomes.info = true;
    else outcomes.failMode ??= op.mode;
    sendOutcomes.set(op.id, outcomes);
  }
  // An acknowledgement that named no mode counts as kv: it cannot be held to do's promise.
  const ackMode = (id: string): Mode | null => {
    const op = acked.get(id);
    return op ? (op.mode ?? "kv") : null;
  };
  const readMode = (id: string, read: Observation): Mode => (read.mode === "kv" ? "kv" : (ackMode(id) ?? "do"));
  for (const op of acked.values()) tallies.modes[op.mode ?? "kv"].acknowledged++;

  // Observations, in the order they were made.
  const reads = history.observations.map((read, index) => ({ read, index }));
  reads.sort((a, b) => a.read.at - b.read.at || a.index - b.index);
  const firstSeen = new Map<string, { at: number; read: Observation }>();
  /** id → its log place (seq), as the first read that showed one said */
  const seqOf = new Map<string, number>();
  /** reader → id → status rank / change position last shown to that reader */
  const ranks = new Map<string, Map<string, number>>();
  const positions = new Map<string, Map<string, number>>();
  /** reader and room → the room's change position its last list or changes read stated */
  const roomPositions = new Map<string, number>();
  /** room → neighbour pairs "a\0b" (a shown right before b) some kv list showed */
  const kvPairs = new Map<string, Set<string>>();
  /** room → the ids of its latest whole-log read, and when it was made */
  const wholeLog = new Map<string, { at: number; sentAt: number; ids: Set<string> }>();
  /** room → its kv lists: when, which ids, and their entries' stamps (null when a stamp is unknown) */
  const kvLists = new Map<
    string,
    { at: number; sentAt: number; ids: Set<string>; stamps: { createdAt: number }[] | null }[]
  >();
  /** id → when the server stamped it, as any read showed */
  const createdAtOf = new Map<string, number>();
  /** human id → reply id → where it stands */
  const replies = new Map<string, Map<string, ReplyLink>>();
  const readers = new Set<string>();

  const addReply = (humanId: string, replyId: string, link: ReplyLink) => {
    const known = replies.get(humanId) ?? new Map<string, ReplyLink>();
    const before = known.get(replyId);
    if (!before || (before.seq === null && link.seq !== null)) known.set(replyId, link);
    replies.set(humanId, known);
  };
  const mapOf = (maps: Map<string, Map<string, number>>, reader: string) => {
    let map = maps.get(reader);
    if (!map) maps.set(reader, (map = new Map()));
    return map;
  };

  for (const { read } of reads) {
    const { reader, room } = read;
    readers.add(reader);
    const where = { room, reader, at: read.at };
    const readerRanks = mapOf(ranks, reader);
    const readerPositions = mapOf(positions, reader);

    // The room's position, for one reader's sequential list reads (a socket's hello may precede queued pushes).
    if (read.kind !== "push" && read.lastPos !== undefined) {
      const key = `${reader}\u0000${room}`;
      const before = roomPositions.get(key);
      if (before !== undefined && read.lastPos < before) {
        tallies.add(read.mode, "orderAnomalies", `room-pos\u0000${key}\u0000${read.at}`, {
          ...where,
          ids: [],
          detail: `the room's change position went back from ${before} to ${read.lastPos}`,
        });
      }
      roomPositions.set(key, Math.max(before ?? 0, read.lastPos));
    }
    // A read answered after a write but sent before its acknowledgement may have been served before it.
    const sentAt = read.sentAt ?? read.at;
    if (read.complete) wholeLog.set(room, { at: read.at, sentAt, ids: new Set(read.messages.map((m) => m.id)) });
    for (const m of read.messages) if (m.createdAt !== undefined) createdAtOf.set(m.id, m.createdAt);
    if (read.mode === "kv" && read.kind === "list") {
      // A message CACHE_SIZE newer ones pushed out of the list was not lost (inKvWindow).
      const known = read.messages.every((m) => m.createdAt !== undefined);
      const stamps = known ? read.messages.map((m) => ({ createdAt: m.createdAt! })) : null;
      const lists = kvLists.get(room) ?? [];
      lists.push({ at: read.at, sentAt, ids: new Set(read.messages.map((m) => m.id)), stamps });
      kvLists.set(room, lists);
    }

    const inThisRead = new Set<string>();
    let previous: Observed | null = null;
    for (const m of read.messages) {
      if (!firstSeen.has(m.id)) firstSeen.set(m.id, { at: read.at, read });
      if (inThisRead.has(m.id)) {
        const detail = `shown twice in one ${read.kind} read (${read.mode})`;
        tallies.add(readMode(m.id, read), "duplicates", m.id, { ...where, ids: [m.id], detail });
      }
      inThisRead.add(m.id);

      if (m.seq !== undefined) {
        const seq = seqOf.get(m.id);
        if (seq === undefined) seqOf.set(m.id, m.seq);
        else if (seq !== m.seq) {
          const detail = `its log place changed from seq ${seq} to ${m.seq}`;
          tallies.add(readMode(m.id, read), "orderAnomalies", `seq\u0000${m.id}`, { ...where, ids: [m.id], detail });
        }
      }

      const rank = RANK[m.status];
      const rankBefore = readerRanks.get(m.id);
      if (rankBefore !== undefined && rank < rankBefore) {
        const detail = `shown ${m.status} after it was finished`;
        tallies.add(readMode(m.id, read), "statusRegressions", m.id, { ...where, ids: [m.id], detail });
      }
      readerRanks.set(m.id, Math.max(rank, rankBefore ?? 0));

      if (m.pos !== undefined) {
        const posBefore = readerPositions.get(m.id);
        if (posBefore !== undefined && m.pos < posBefore) {
          const detail = `its change position went back from ${posBefore} to ${m.pos}`;
          tallies.add(readMode(m.id, read), "orderAnomalies", `pos\u0000${m.id}`, { ...where, ids: [m.id], detail });
        }
        readerPositions.set(m.id, Math.max(m.pos, posBefore ?? 0));
      }

      // Only a do read's seq is a place in the log.
      if (m.kind === "ai" && m.replyTo) {
        addReply(m.replyTo, m.id, { room, seq: read.mode === "do" ? (m.seq ?? null) : null });
      }

      if (previous && previous.id !== m.id) checkNeighbours(previous, m, read);
      previous = m;
    }
  }

  /**
   * Order, from neighbours only. A do list is the room log's newest messages by seq, and
   * seq is fixed when a message is logged. If every do list ascends in seq and every id keeps
   * one seq across all reads (checked above), any two readers' lists are restrictions of one
   * total order and agree on every pair they share: checking neighbours is exact and linear.
   * A change-order read (`since` paging) must ascend in pos the same way. A kv list carries no
   * seq: each neighbour pair is checked against the orientation any earlier kv list of the room
   * showed. That catches every swap of neighbours, not two messages that were never neighbours
   * in any list: a lower bound, for the legacy path whose order is only reported.
   */
  function checkNeighbours(a: Observed, b: Observed, read: Observation): void {
    const where = { room: read.room, reader: read.reader, at: read.at, ids: [a.id, b.id] };
    const pairKey = a.id < b.id ? `${a.id}\u0000${b.id}` : `${b.id}\u0000${a.id}`;
    const mode: Mode = readMode(a.id, read) === "do" && readMode(b.id, read) === "do" ? "do" : "kv";
    if (read.kind === "changes") {
      if (a.pos !== undefined && b.pos !== undefined && b.pos <= a.pos) {
        const detail = `a change-order read shows pos ${a.pos} before pos ${b.pos}`;
        tallies.add(mode, "orderAnomalies", pairKey, { ...where, detail });
      }
    } else if (read.kind === "list" && read.mode === "do") {
      if (a.seq !== undefined && b.seq !== undefined && b.seq <= a.seq) {
        const detail = `a do list shows seq ${a.seq} before seq ${b.seq}`;
        tallies.add(mode, "orderAnomalies", pairKey, { ...where, detail });
      }
    } else if (read.kind === "list") {
      let pairs = kvPairs.get(read.room);
      if (!pairs) kvPairs.set(read.room, (pairs = new Set()));
      if (pairs.has(`${b.id}\u0000${a.id}`)) {
        const detail = "two kv lists show these two in opposite orders";
        tallies.add(mode, "orderAnomalies", pairKey, { ...where, detail });
      }
      pairs.add(`${a.id}\u0000${b.id}`);
    }
  }

  // Acknowledged sends: lost?
  for (const op of acked.values()) {
    const mode = op.mode ?? "kv";
    const where = { room: op.room, ids: [op.id] };
    const seen = firstSeen.get(op.id);
    if (!seen) {
      tallies.add(mode, "lostWrites", op.id, { ...where, detail: "acknowledged, never shown to any reader" });
      continue;
    }
    if (mode !== "do") continue;
    const healedAt = readdedAt.get(op.id);
    if (healedAt !== undefined && seen.at >= healedAt) {
      const detail = "first shown only after a heal re-added it";
      tallies.add(mode, "lostWrites", op.id, { ...where, at: seen.at, detail });
      continue;
    }
    const log = wholeLog.get(op.room);
    if (log && op.completeAt !== null && log.sentAt >= op.completeAt && !log.ids.has(op.id)) {
      const detail = "missing from the room's whole log, read after it was acknowledged";
      tallies.add(mode, "lostWrites", op.id, { ...where, at: log.at, detail });
      continue;
    }
    // After a flip to kv the room's list must still hold it: a kv list read sent after the
    // acknowledgement that lacks it, within its window, lost it (the mirror, or a stale writer).
    const created = createdAtOf.get(op.id);
    const completeAt = op.completeAt;
    if (created === undefined || completeAt === null) continue;
    const lacking = (kvLists.get(op.room) ?? []).find(
      (l) => l.sentAt >= completeAt && !l.ids.has(op.id) && l.stamps !== null && inKvWindow(l.stamps, created),
    );
    if (lacking) {
      const detail = "missing from a kv list of its room read after it was acknowledged (within the list's window)";
      tallies.add(mode, "lostWrites", op.id, { ...where, at: lacking.at, detail });
    }
  }

  // Shown ids: sent at all? Refused?
  for (const [id, { read }] of firstSeen) {
    const outcomes = sendOutcomes.get(id);
    const where = { room: read.room, reader: read.reader, at: read.at, ids: [id] };
    if (!outcomes) tallies.add(read.mode, "phantoms", id, { ...where, detail: "shown, never sent" });
    else if (!outcomes.ok && !outcomes.info) {
      const detail = "shown although its send was refused";
      tallies.add(outcomes.failMode ?? read.mode, "abortedReads", id, { ...where, detail });
    }
  }

  // Replies: acknowledged ones count even if never shown; refused ones are the room doing its job.
  for (const op of acked.values()) {
    if (op.kind === "ai" && op.replyTo) addReply(op.replyTo, op.id, { room: op.room, seq: seqOf.get(op.id) ?? null });
  }
  for (const [humanId, links] of replies) {
    if (links.size < 2) continue;
    const list = [...links].map(([id, link]) => ({ id, ...link, mode: ackMode(id) }));
    const mode: Mode = list.every((r) => r.mode === "do") || refusalMissed(list) ? "do" : "kv";
    const detail = list.map((r) => `${r.id} (${r.mode ?? "unacknowledged"}, seq ${r.seq ?? "-"})`).join(", ");
    const ids = [humanId, ...list.map((r) => r.id)];
    const room = list[0]!.room;
    tallies.add(mode, "doubleAnswers", humanId, { room, ids, detail: `answered ${list.length} times: ${detail}` });
  }

  return { ops, observations: history.observations.length, readers: readers.size, modes: tallies.modes };
}

/**
 * A do room must refuse a second reply. It had what it needed to when it acknowledged a reply
 * while another reply to the same message already stood earlier in its log (a lower seq,
 * e.g. merged from the kv cache at a flip): that double answer counts against do.
 */
function refusalMissed(replies: { mode: Mode | null; seq: number | null }[]): boolean {
  const earlier = (seq: number) => replies.some((other) => other.seq !== null && other.seq < seq);
  return replies.some((r) => r.mode === "do" && r.seq !== null && earlier(r.seq));
}

/** One line per mode: each anomaly kind with its count. */
export function anomalyLine(mode: Mode, check: ModeCheck): string {
  const parts = ANOMALY_KINDS.map((kind) => `${check.anomalies[kind].count} ${LABELS[kind]}`);
  const total = `${check.total} anomal${check.total === 1 ? "y" : "ies"}`;
  return `${mode}: ${total} in ${check.acknowledged.toLocaleString("en-US")} acknowledged (${parts.join(", ")})`;
}

const LABELS: Record<AnomalyKind, string> = {
  lostWrites: "lost",
  duplicates: "duplicated",
  abortedReads: "aborted reads",
  phantoms: "phantoms",
  orderAnomalies: "order",
  statusRegressions: "status regressions",
  doubleAnswers: "double answers",
};
