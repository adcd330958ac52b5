// One lab round: a fresh room in one mode, N tabs that post at the same moment and
// then behave like the page, the real bot answering, and a final audit of the room.
import type { FirstCheck } from "../../src/client/verifier";
import { CACHE_SIZE, type PathMode, type Message } from "../../src/shared/message";
import { anomalyLine, checkHistory } from "../check/checker";
import { HistoryRecorder } from "../check/recorder";
import { historyFailures } from "../soak/report";
import { ChatClient } from "../lib/api";
import { BotFleet } from "../lib/bot-process";
import { round, summarize } from "../lib/stats";
import { Tab, cadenceFor, type OwnMessage, type TabEvents } from "../lib/tab";
import { now, sleep, waitFor } from "../lib/time";
import type { RoundResult, Side, TimePercentiles } from "./report-schema";
import { VisibilityLog } from "./visibility";

export type BotChoice = "offline" | "ollama" | "none";

export type RoundSettings = {
  url: string;
  adminToken: string;
  botToken?: string;
  mode: PathMode;
  tabs: number;
  round: number;
  pollMs: number;
  bot: BotChoice;
  /** bot processes answering the room at once */
  bots: number;
  push: boolean;
  deadlineMs: number;
  /** a short tag that makes this run's room names unique */
  runTag: string;
  log: (line: string) => void;
};

export function roomName(settings: Pick<RoundSettings, "mode" | "tabs" | "round" | "runTag">): string {
  return `race-${settings.runTag}-${settings.mode}-${settings.tabs}t-r${settings.round}`;
}

/** The bot polls every 3 s (docs/architecture.md, "Verification layer"); a faster lab run makes it faster too. */
export const botPollMs = (pollMs: number) => Math.min(3_000, pollMs);

export async function runRound(settings: RoundSettings): Promise<RoundResult> {
  const room = roomName(settings);
  const admin = new ChatClient(settings.url, { admin: settings.adminToken });
  await admin.setRoomMode(room, settings.mode);

  const seen = new VisibilityLog();
  // Every send, heal and read of the round, checked at the end as the soak's are.
  const recorder = new HistoryRecorder();
  const tabs = Array.from({ length: settings.tabs }, (_, i) => {
    const name = `tab ${i + 1}`;
    return new Tab({
      client: new ChatClient(settings.url),
      room,
      author: name,
      cadence: cadenceFor(settings.pollMs),
      push: settings.push,
      events: recorded(seen.events, recorder, name, room),
      history: { recorder, process: name },
    });
  });
  let bot: BotFleet | null = null;
  const started = now();
  const deadline = started + settings.deadlineMs;
  try {
    if (settings.bot !== "none") {
      if (!settings.botToken)
        throw new Error("the bot token is needed for --bot offline|ollama: pass --bot-token or set BOT_TOKEN");
      bot = new BotFleet(settings.bots, {
        url: settings.url,
        botToken: settings.botToken,
        rooms: [room],
        kind: settings.bot,
        botId: `race-bot-${room}`,
        pollMs: botPollMs(settings.pollMs),
        ollamaHost: process.env.OLLAMA_HOST,
        ollamaModel: process.env.OLLAMA_MODEL,
      });
    }
    // Tabs that have been open a while: each polls at its own phase.
    await Promise.all(tabs.map((tab) => tab.open({ randomPhase: true })));

    // The barrier: every tab's POST leaves in the same tick.
    const posted = await Promise.all(
      tabs.map((tab, i) =>
        tab.post(`race ${settings.mode}, ${settings.tabs} tabs, round ${settings.round}: hello from tab ${i + 1}`),
      ),
    );
    const acked = posted.filter((m) => m.ackedAt !== undefined);

    const settled = () => {
      if (tabs.some((tab) => tab.unverified > 0)) return false;
      if (!bot) return true;
      if (bot.crashed.length) return true; // reported below as a failure
      const answers = bot.answers;
      const gaveUp = bot.gaveUp;
      // A kv room keeps only the newest 200: a message pushed out of it never reaches the bot's pending list.
      const unanswered = acked.some(
        (m) => !answers.has(m.id) && !gaveUp.has(m.id) && !(settings.mode === "kv" && m.verifiedBy === "out-of-window"),
      );
      const unseenReplies = [...bot.replies.keys()].some((id) => !seen.firstSeen.has(id));
      return !unanswered && bot.unverified === 0 && !unseenReplies;
    };
    const finished = await waitFor(settled, deadline, 100);

    const durationMs = now() - started;
    // Everyone stops first, so nothing changes while the room is audited.
    for (const tab of tabs) tab.stop();
    await bot?.stop();
    const final = await admin.list(room, CACHE_SIZE);
    seen.onListing(final);
    recorder.observe("audit", room, final.comments, {
      mode: final.mode,
      kind: "list",
      complete: final.comments.length < CACHE_SIZE,
    });
    // The bot runs as its own process: its acknowledged replies enter the history from its log.
    for (const reply of bot?.replies.values() ?? []) {
      const invocation = {
        type: "send" as const,
        process: "bot",
        room,
        id: reply.id,
        kind: "ai" as const,
        mode: settings.mode,
      };
      recorder
        .invoke({ ...invocation, ...(reply.replyTo ? { replyTo: reply.replyTo } : {}) })
        .complete("ok", { mode: settings.mode });
    }
    const ackedIds = new Map<string, number | undefined>([
      ...acked.map((m): [string, number] => [m.id, m.createdAt]),
      ...[...(bot ? bot.replies.keys() : [])].map((id): [string, number | undefined] => [id, seen.createdAt.get(id)]),
    ]);
    const audit = await auditFinalList(admin, room, settings.mode, final.comments, ackedIds, seen);
    const result = withHistoryCheck(
      buildResult(settings, room, posted, bot, seen, audit, durationMs, !finished, tabs),
      recorder,
    );
    logRound(settings, result);
    return result;
  } finally {
    for (const tab of tabs) tab.stop();
    await bot?.stop();
    // Let closing sockets settle before the next round starts its own.
    await sleep(100);
  }
}

/** Tab events that also record each read in the round's history. */
function recorded(events: TabEvents, recorder: HistoryRecorder, reader: string, room: string): TabEvents {
  return {
    onListing: (listing) => {
      events.onListing?.(listing);
      // A list shows the room as of some moment after it was asked for: a push received while it
      // was on its way may be newer. Ordered by its request, it is stale only if asked for after.
      recorder.observe(reader, room, listing.comments, { mode: listing.mode, kind: "list", at: listing.requestedAt });
    },
    onPush: (message, receivedAt) => {
      events.onPush?.(message, receivedAt);
      recorder.observe(reader, room, [message], { mode: "do", kind: "push", at: receivedAt });
    },
  };
}

/** The checker's verdict on the round: a do anomaly fails it; kv's are the legacy path's behaviour. */
function withHistoryCheck(result: RoundResult, recorder: HistoryRecorder): RoundResult {
  const check = checkHistory(recorder.history()).modes[result.mode];
  const summary = anomalyLine(result.mode, check);
  const failures = result.mode === "do" ? historyFailures(check) : [];
  const notes = result.mode === "kv" && check.total ? [`history check, the legacy path's behaviour: ${summary}`] : [];
  return {
    ...result,
    historyCheck: { anomalies: check.total, summary },
    failures: [...result.failures, ...failures],
    notes: [...result.notes, ...notes],
  };
}

/** Where each acknowledged message stands at the end: in the room's list, beyond its 200-message window, or lost. */
type Audit = { finalList: Message[]; delivered: Set<string>; beyondWindow: Set<string> };

/**
 * The final list shows the newest 200 messages. An acknowledged id it lacks is either
 * older than that window or lost. In do mode the heal endpoint tells exactly (readded:
 * false = it is in the room's log; true = it was missing, now put back, and counted as
 * lost). A kv room keeps only its newest 200, so there an id older than the oldest entry
 * of a full list was pushed out; it counts as delivered only if some tab saw it first.
 */
async function auditFinalList(
  admin: ChatClient,
  room: string,
  mode: PathMode,
  finalList: Message[],
  acked: Map<string, number | undefined>,
  seen: VisibilityLog,
): Promise<Audit> {
  const delivered = new Set(finalList.map((m) => m.id));
  const beyondWindow = new Set<string>();
  const full = finalList.length >= CACHE_SIZE;
  const oldest = Math.min(...finalList.map((m) => m.createdAt));
  for (const [id, createdAt] of acked) {
    if (delivered.has(id) || !full) continue;
    if (mode === "do") {
      if (!(await admin.heal(id, room)).readded) {
        beyondWindow.add(id);
        delivered.add(id);
      }
    } else if ((createdAt ?? Infinity) < oldest) {
      beyondWindow.add(id);
      if (seen.firstSeen.has(id)) delivered.add(id);
    }
  }
  return { finalList, delivered, beyondWindow };
}

function buildResult(
  settings: RoundSettings,
  room: string,
  posted: OwnMessage[],
  bot: BotFleet | null,
  seen: VisibilityLog,
  audit: Audit,
  durationMs: number,
  deadlineHit: boolean,
  tabs: Tab[],
): RoundResult {
  const ownRecords = new Map(posted.map((m) => [m.id, m]));

  const humanTimes: number[] = [];
  const acked = posted.filter((m) => m.ackedAt !== undefined);
  for (const m of acked) {
    const t = seen.timeToVisible(m.id);
    if (t !== undefined) humanTimes.push(t);
  }
  const human = side({
    posted: posted.length,
    acked: acked.map((m) => ({
      id: m.id,
      firstCheck: m.firstCheck,
      healCalls: m.healCalls,
      healsReadded: m.healsReadded,
    })),
    audit,
    seen,
    times: humanTimes,
  });

  let ai: Side | null = null;
  const aiTimes: number[] = [];
  const failures: string[] = [];
  const notes: string[] = [];
  let doubleAnswers = 0;
  if (bot) {
    const replyMap = bot.replies;
    const replies = [...replyMap.values()];
    for (const r of replies) {
      const t = seen.timeToVisible(r.id);
      if (t !== undefined) aiTimes.push(t);
    }
    ai = side({
      posted: replies.length,
      acked: replies.map((r) => ({
        id: r.id,
        firstCheck: r.firstCheck,
        healCalls: r.healCalls,
        healsReadded: r.healsReadded,
      })),
      audit,
      seen,
      times: aiTimes,
    });
    // Double answers: from the bot's own log and from what the room shows.
    const repliesPerHuman = new Map<string, Set<string>>();
    for (const [humanId, ids] of bot.answers) repliesPerHuman.set(humanId, new Set(ids));
    for (const m of seen.aiReplies.values()) {
      if (m.replyTo && ownRecords.has(m.replyTo))
        repliesPerHuman.set(m.replyTo, new Set([...(repliesPerHuman.get(m.replyTo) ?? []), m.id]));
    }
    doubleAnswers = [...repliesPerHuman.values()].filter((ids) => ids.size > 1).length;
    const unreported = [...seen.aiReplies.keys()].filter((id) => !replyMap.has(id));
    if (unreported.length)
      failures.push(
        `${unreported.length} AI repl${unreported.length === 1 ? "y" : "ies"} in the room that the bot's log never reported: ${unreported.slice(0, 3).join(", ")}`,
      );
    const answers = bot.answers;
    const gaveUp = bot.gaveUp;
    const unanswered = acked.filter((m) => !answers.has(m.id) && !gaveUp.has(m.id));
    // kv: the bot finds work in the 200-message cache only; what was pushed out of it is a kv limit, reported apart.
    const outOfReach = unanswered.filter(
      (m) => settings.mode === "kv" && audit.beyondWindow.has(m.id) && audit.delivered.has(m.id),
    );
    if (unanswered.length > outOfReach.length)
      failures.push(`${unanswered.length - outOfReach.length} human message(s) never answered by the bot`);
    if (outOfReach.length)
      notes.push(
        `${outOfReach.length} human message(s) unanswered: pushed out of the kv cache (newest 200) before the bot got to them`,
      );
    if (gaveUp.size) failures.push(`the bot gave up on ${gaveUp.size} message(s)`);
    for (const c of bot.crashed) failures.push(`bot ${c.botId} exited early with ${c.exitCode}:\n${c.tail}`);
  }

  const duplicates = { ids: seen.duplicateIds.size, doubleAnswers, total: seen.duplicateIds.size + doubleAnswers };
  const failedPosts = posted.length - acked.length;
  if (failedPosts)
    failures.push(`${failedPosts} post(s) never acknowledged: ${posted.find((m) => m.error)?.error ?? ""}`);
  const lost = (s: Side) =>
    `${s.undelivered.length}${s.seenThenLost ? ` (${s.seenThenLost} had been seen, then overwritten)` : ""}`;
  if (human.undelivered.length) failures.push(`${lost(human)} acknowledged human message(s) never delivered`);
  if (ai?.undelivered.length)
    failures.push(`${lost(ai)} acknowledged AI repl${ai.undelivered.length === 1 ? "y" : "ies"} never delivered`);
  if (duplicates.total)
    failures.push(`${duplicates.ids} duplicated id(s), ${duplicates.doubleAnswers} message(s) answered twice`);
  if (deadlineHit) failures.push(`not settled within the ${Math.round(settings.deadlineMs / 1000)} s deadline`);

  const counts = tabs.reduce(
    (sum, tab) => ({
      post: sum.post + tab.client.counter.counts.post + tab.socketCounts.sends,
      poll: sum.poll + tab.client.counter.counts.poll,
      heal: sum.heal + tab.client.counter.counts.heal,
    }),
    { post: 0, poll: 0, heal: 0 },
  );
  const delivered = human.finallyDelivered + (ai?.finallyDelivered ?? 0);
  const healCalls = human.healCalls + (ai?.healCalls ?? 0);
  return {
    mode: settings.mode,
    tabs: settings.tabs,
    round: settings.round,
    room,
    bot: settings.bot,
    durationMs: Math.round(durationMs),
    deadlineMs: settings.deadlineMs,
    deadlineHit,
    human,
    ai,
    timeToVisibleMs: percentiles([...humanTimes, ...aiTimes]),
    timeToVisibleSamplesMs: { human: humanTimes.map(Math.round), ai: aiTimes.map(Math.round) },
    duplicates,
    healCallsPerDelivered: delivered ? round(healCalls / delivered, 3) : null,
    requests: { ...counts, pushesReceived: seen.pushesReceived },
    failures,
    notes,
  };
}

type Acked = { id: string; firstCheck?: FirstCheck; healCalls: number; healsReadded: number };

function side(input: { posted: number; acked: Acked[]; audit: Audit; seen: VisibilityLog; times: number[] }): Side {
  const { delivered, beyondWindow } = input.audit;
  const beyond = input.acked.filter((m) => beyondWindow.has(m.id));
  const undelivered = input.acked.filter((m) => !delivered.has(m.id)).map((m) => m.id);
  const count = (result: FirstCheck) => input.acked.filter((m) => m.firstCheck === result).length;
  return {
    posted: input.posted,
    acknowledged: input.acked.length,
    inFirstPoll: count("in"),
    missingOnFirstCheck: count("missing"),
    firstSeenByPush: count("push"),
    outOfWindowOnFirstCheck: count("out-of-window"),
    healed: input.acked.filter((m) => m.healCalls > 0).length,
    healCalls: input.acked.reduce((sum, m) => sum + m.healCalls, 0),
    healsReadded: input.acked.reduce((sum, m) => sum + m.healsReadded, 0),
    finallyDelivered: input.acked.filter((m) => delivered.has(m.id)).length,
    undelivered,
    seenThenLost: undelivered.filter((id) => input.seen.firstSeen.has(id)).length,
    beyondWindow: beyond.length,
    timeToVisibleMs: percentiles(input.times),
  };
}

export function percentiles(values: number[]): TimePercentiles {
  const s = summarize(values);
  return { count: s.count, p50: round(s.p50, 0), p95: round(s.p95, 0), max: round(s.max, 0) };
}

function logRound(settings: RoundSettings, r: RoundResult): void {
  const ai = r.ai ? `, AI ${r.ai.missingOnFirstCheck}/${r.ai.acknowledged} missing on first check` : "";
  const pushed = r.human.firstSeenByPush ? ` (${r.human.firstSeenByPush} first seen by push)` : "";
  const verdict = r.failures.length ? `FAILED: ${r.failures.join("; ")}` : "ok";
  settings.log(
    `  ${r.mode} ${r.tabs} tabs round ${r.round}: human ${r.human.missingOnFirstCheck}/${r.human.acknowledged} missing on first check${pushed}${ai}; ` +
      `delivered ${r.human.finallyDelivered + (r.ai?.finallyDelivered ?? 0)}; ${(r.durationMs / 1000).toFixed(1)} s; ${verdict}`,
  );
}
