// One lab round: a fresh room in one mode, N tabs that post at the same moment and
// then behave like the page, the real bot answering, and a final audit of the room.
import { CACHE_SIZE, type CacheMode, type Message } from "../../src/shared/message";
import { ChatClient } from "../lib/api";
import { BotFleet, type BotReplyRecord } from "../lib/bot-process";
import { round, summarize } from "../lib/stats";
import { Tab, cadenceFor, type OwnMessage } from "../lib/tab";
import { now, sleep, waitFor } from "../lib/time";
import type { RoundResult, Side, TimePercentiles } from "./report-schema";
import { VisibilityLog } from "./visibility";

export type BotChoice = "offline" | "ollama" | "none";

export type RoundSettings = {
  url: string;
  adminToken: string;
  botToken?: string;
  mode: CacheMode;
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

/** The bot polls every 3 s (DESIGN.md); a faster lab run makes it faster too. */
export const botPollMs = (pollMs: number) => Math.min(3_000, pollMs);

export async function runRound(settings: RoundSettings): Promise<RoundResult> {
  const room = roomName(settings);
  const admin = new ChatClient(settings.url, { admin: settings.adminToken });
  await admin.setRoomMode(room, settings.mode);

  const seen = new VisibilityLog();
  const tabs = Array.from(
    { length: settings.tabs },
    (_, i) => new Tab({ client: new ChatClient(settings.url), room, author: `tab ${i + 1}`, cadence: cadenceFor(settings.pollMs), push: settings.push, events: seen.events }),
  );
  let bot: BotFleet | null = null;
  const started = now();
  const deadline = started + settings.deadlineMs;
  try {
    if (settings.bot !== "none") {
      if (!settings.botToken) throw new Error("the bot token is needed for --bot offline|ollama: pass --bot-token or set BOT_TOKEN");
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
    await Promise.all(tabs.map((tab) => tab.open()));

    // The barrier: every tab's POST leaves in the same tick.
    const posted = await Promise.all(tabs.map((tab, i) => tab.post(`race ${settings.mode}, ${settings.tabs} tabs, round ${settings.round}: hello from tab ${i + 1}`)));
    const acked = posted.filter((m) => m.ackedAt !== undefined);

    const settled = () => {
      if (tabs.some((tab) => tab.unverified > 0)) return false;
      if (!bot) return true;
      if (bot.crashed.length) return true; // reported below as a failure
      const answers = bot.answers;
      const gaveUp = bot.gaveUp;
      const unanswered = acked.some((m) => !answers.has(m.id) && !gaveUp.has(m.id));
      const unseenReplies = [...bot.replies.keys()].some((id) => !seen.firstSeen.has(id));
      return !unanswered && bot.unverified === 0 && !unseenReplies;
    };
    const finished = await waitFor(settled, deadline, 100);

    const final = await admin.list(room, CACHE_SIZE);
    seen.onListing(final);
    const result = buildResult(settings, room, posted, bot, seen, final.comments, now() - started, !finished, tabs);
    logRound(settings, result);
    return result;
  } finally {
    for (const tab of tabs) tab.stop();
    await bot?.stop();
    // Let closing sockets settle before the next round starts its own.
    await sleep(100);
  }
}

function buildResult(
  settings: RoundSettings,
  room: string,
  posted: OwnMessage[],
  bot: BotFleet | null,
  seen: VisibilityLog,
  finalList: Message[],
  durationMs: number,
  deadlineHit: boolean,
  tabs: Tab[],
): RoundResult {
  const inFinal = new Set(finalList.map((m) => m.id));
  // A full list cannot show messages older than its oldest entry: those are beyond the window, not lost.
  const windowStart = finalList.length >= CACHE_SIZE ? (finalList[0]?.createdAt ?? 0) : 0;
  const ownRecords = new Map(posted.map((m) => [m.id, m]));

  const humanTimes: number[] = [];
  const acked = posted.filter((m) => m.ackedAt !== undefined);
  for (const m of acked) {
    const t = seen.timeToVisible(m.id);
    if (t !== undefined) humanTimes.push(t);
  }
  const human = side({
    posted: posted.length,
    acked: acked.map((m) => ({ id: m.id, createdAt: m.createdAt, firstCheck: m.firstCheck, healCalls: m.healCalls })),
    inFinal,
    windowStart,
    times: humanTimes,
  });

  let ai: Side | null = null;
  const aiTimes: number[] = [];
  const failures: string[] = [];
  let doubleAnswers = 0;
  if (bot) {
    const replyMap = bot.replies;
    const replies = [...replyMap.values()];
    for (const r of replies) {
      const t = seen.timeToVisible(r.id);
      if (t !== undefined) aiTimes.push(t);
    }
    const createdAt = (r: BotReplyRecord) => seen.createdAt.get(r.id) ?? Date.now();
    ai = side({
      posted: replies.length,
      acked: replies.map((r) => ({ id: r.id, createdAt: createdAt(r), firstCheck: r.firstCheck, healCalls: r.healCalls })),
      inFinal,
      windowStart,
      times: aiTimes,
    });
    // Double answers: from the bot's own log and from what the room shows.
    const repliesPerHuman = new Map<string, Set<string>>();
    for (const [humanId, ids] of bot.answers) repliesPerHuman.set(humanId, new Set(ids));
    for (const m of seen.aiReplies.values()) {
      if (m.replyTo && ownRecords.has(m.replyTo)) repliesPerHuman.set(m.replyTo, new Set([...(repliesPerHuman.get(m.replyTo) ?? []), m.id]));
    }
    doubleAnswers = [...repliesPerHuman.values()].filter((ids) => ids.size > 1).length;
    const unreported = [...seen.aiReplies.keys()].filter((id) => !replyMap.has(id));
    if (unreported.length) failures.push(`${unreported.length} AI repl${unreported.length === 1 ? "y" : "ies"} in the room that the bot's log never reported: ${unreported.slice(0, 3).join(", ")}`);
    const answers = bot.answers;
    const gaveUp = bot.gaveUp;
    const unanswered = acked.filter((m) => !answers.has(m.id) && !gaveUp.has(m.id));
    if (unanswered.length) failures.push(`${unanswered.length} human message(s) never answered by the bot`);
    if (gaveUp.size) failures.push(`the bot gave up on ${gaveUp.size} message(s)`);
    for (const c of bot.crashed) failures.push(`bot ${c.botId} exited early with ${c.exitCode}:\n${c.tail}`);
  }

  const duplicates = { ids: seen.duplicateIds.size, doubleAnswers, total: seen.duplicateIds.size + doubleAnswers };
  const failedPosts = posted.length - acked.length;
  if (failedPosts) failures.push(`${failedPosts} post(s) never acknowledged: ${posted.find((m) => m.error)?.error ?? ""}`);
  if (human.undelivered.length) failures.push(`${human.undelivered.length} acknowledged human message(s) never delivered`);
  if (ai?.undelivered.length) failures.push(`${ai.undelivered.length} acknowledged AI repl${ai.undelivered.length === 1 ? "y" : "ies"} never delivered`);
  if (duplicates.total) failures.push(`${duplicates.ids} duplicated id(s), ${duplicates.doubleAnswers} message(s) answered twice`);
  if (deadlineHit) failures.push(`not settled within the ${Math.round(settings.deadlineMs / 1000)} s deadline`);

  const counts = tabs.reduce(
    (sum, tab) => ({ post: sum.post + tab.client.counter.counts.post, poll: sum.poll + tab.client.counter.counts.poll, heal: sum.heal + tab.client.counter.counts.heal }),
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
    deadlineHit,
    human,
    ai,
    timeToVisibleMs: percentiles([...humanTimes, ...aiTimes]),
    timeToVisibleSamplesMs: { human: humanTimes.map(Math.round), ai: aiTimes.map(Math.round) },
    duplicates,
    healCallsPerDelivered: delivered ? round(healCalls / delivered, 3) : null,
    requests: { ...counts, pushesReceived: seen.pushesReceived },
    failures,
  };
}

type Acked = { id: string; createdAt: number; firstCheck?: "in" | "missing"; healCalls: number };

function side(input: { posted: number; acked: Acked[]; inFinal: Set<string>; windowStart: number; times: number[] }): Side {
  const beyond = input.acked.filter((m) => !input.inFinal.has(m.id) && m.createdAt < input.windowStart);
  const undelivered = input.acked.filter((m) => !input.inFinal.has(m.id) && m.createdAt >= input.windowStart).map((m) => m.id);
  return {
    posted: input.posted,
    acknowledged: input.acked.length,
    inCacheOnFirstCheck: input.acked.filter((m) => m.firstCheck === "in").length,
    missingOnFirstCheck: input.acked.filter((m) => m.firstCheck === "missing").length,
    healed: input.acked.filter((m) => m.healCalls > 0).length,
    healCalls: input.acked.reduce((sum, m) => sum + m.healCalls, 0),
    finallyDelivered: input.acked.filter((m) => input.inFinal.has(m.id)).length,
    undelivered,
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
  const verdict = r.failures.length ? `FAILED: ${r.failures.join("; ")}` : "ok";
  settings.log(
    `  ${r.mode} ${r.tabs} tabs round ${r.round}: human ${r.human.missingOnFirstCheck}/${r.human.acknowledged} missing on first check${ai}; ` +
      `delivered ${r.human.finallyDelivered + (r.ai?.finallyDelivered ?? 0)}; ${(r.durationMs / 1000).toFixed(1)} s; ${verdict}`,
  );
}
