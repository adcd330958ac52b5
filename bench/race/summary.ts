// Adds up a lab's rounds per mode and tab count, and prints the seed's table.
import { round } from "../lib/stats";
import { fmt, markdownTable, pct, type Align } from "../lib/table";
import { percentiles } from "./round";
import type { RoundResult, Side, Summary } from "./report-schema";

function addSides(sides: Side[], samples: number[]): Side {
  const sum = (pick: (s: Side) => number) => sides.reduce((a, s) => a + pick(s), 0);
  return {
    posted: sum((s) => s.posted),
    acknowledged: sum((s) => s.acknowledged),
    inCacheOnFirstCheck: sum((s) => s.inCacheOnFirstCheck),
    missingOnFirstCheck: sum((s) => s.missingOnFirstCheck),
    healed: sum((s) => s.healed),
    healCalls: sum((s) => s.healCalls),
    finallyDelivered: sum((s) => s.finallyDelivered),
    undelivered: sides.flatMap((s) => s.undelivered),
    seenThenLost: sum((s) => s.seenThenLost),
    beyondWindow: sum((s) => s.beyondWindow),
    timeToVisibleMs: percentiles(samples),
  };
}

export function summarizeRounds(rounds: RoundResult[]): Summary[] {
  const groups = new Map<string, RoundResult[]>();
  for (const r of rounds) {
    const key = `${r.mode}:${r.tabs}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((group) => {
    const first = group[0]!;
    const humanSamples = group.flatMap((r) => r.timeToVisibleSamplesMs.human);
    const aiSamples = group.flatMap((r) => r.timeToVisibleSamplesMs.ai);
    const human = addSides(group.map((r) => r.human), humanSamples);
    const ai = first.ai ? addSides(group.map((r) => r.ai!), aiSamples) : null;
    const acknowledged = human.acknowledged + (ai?.acknowledged ?? 0);
    const missing = human.missingOnFirstCheck + (ai?.missingOnFirstCheck ?? 0);
    const delivered = human.finallyDelivered + (ai?.finallyDelivered ?? 0);
    const healCalls = human.healCalls + (ai?.healCalls ?? 0);
    const ids = group.reduce((a, r) => a + r.duplicates.ids, 0);
    const doubleAnswers = group.reduce((a, r) => a + r.duplicates.doubleAnswers, 0);
    return {
      mode: first.mode,
      tabs: first.tabs,
      bot: first.bot,
      rounds: group.length,
      failedRounds: group.filter((r) => r.failures.length > 0).length,
      human,
      ai,
      timeToVisibleMs: percentiles([...humanSamples, ...aiSamples]),
      duplicates: { ids, doubleAnswers, total: ids + doubleAnswers },
      healCallsPerDelivered: delivered ? round(healCalls / delivered, 3) : null,
      firstCheckLossPct: acknowledged ? round((100 * missing) / acknowledged, 1) : null,
      requests: {
        post: group.reduce((a, r) => a + r.requests.post, 0),
        poll: group.reduce((a, r) => a + r.requests.poll, 0),
        heal: group.reduce((a, r) => a + r.requests.heal, 0),
        pushesReceived: group.reduce((a, r) => a + r.requests.pushesReceived, 0),
      },
    };
  });
}

const ms = (t: { p50: number | null; p95: number | null; max: number | null }) =>
  t.p50 === null ? "—" : `${fmt(t.p50, 0)} / ${fmt(t.p95, 0)} / ${fmt(t.max, 0)} ms`;

export type TableData = { title?: string; header: string[]; rows: string[][]; align: Align[] };

/** The seed's table for one mode and tab count: human messages and AI replies side by side. */
export function seedTableData(s: Summary): TableData {
  const ai = s.ai;
  const col = (h: string | number, a: string | number | null | undefined) => [String(h), ai ? String(a) : "—"];
  const firstCheck = (side: Side) => `${side.inCacheOnFirstCheck} (${pct(side.missingOnFirstCheck, side.acknowledged)} missing)`;
  const perDelivered = (side: Side) => (side.finallyDelivered ? fmt(side.healCalls / side.finallyDelivered, 2) : "—");
  const rows: string[][] = [
    ["posted", ...col(s.human.posted, ai?.posted)],
    ["acknowledged", ...col(s.human.acknowledged, ai?.acknowledged)],
    ["in cache on first check", ...col(firstCheck(s.human), ai && firstCheck(ai))],
    ["healed", ...col(s.human.healed, ai?.healed)],
    ["finally delivered", ...col(s.human.finallyDelivered, ai?.finallyDelivered)],
    ["time to visible p50 / p95 / max", ...col(ms(s.human.timeToVisibleMs), ai && ms(ai.timeToVisibleMs))],
    ["duplicates", String(s.duplicates.ids), ai ? `${s.duplicates.doubleAnswers} answered twice` : "—"],
    ["heal calls per delivered message", ...col(perDelivered(s.human), ai && perDelivered(ai))],
  ];
  if (s.human.undelivered.length || ai?.undelivered.length) {
    rows.push(["never delivered (of which seen, then overwritten)", ...col(`${s.human.undelivered.length} (${s.human.seenThenLost})`, ai && `${ai.undelivered.length} (${ai.seenThenLost})`)]);
  }
  if (s.human.beyondWindow || ai?.beyondWindow) rows.push(["of which older than the final 200-message window", ...col(s.human.beyondWindow, ai?.beyondWindow)]);
  const title = `${s.mode} mode, ${s.tabs} tabs (${s.rounds} round${s.rounds === 1 ? "" : "s"}, bot: ${s.bot})`;
  return { title, header: ["", "human", "AI replies"], rows, align: ["left", "right", "right"] };
}

export function seedTable(s: Summary): string {
  const t = seedTableData(s);
  return `**${t.title}**\n\n${markdownTable(t.header, t.rows, t.align)}`;
}

/** One line per mode and tab count: the figures the chart shows. */
export function overviewTableData(summaries: Summary[]): TableData {
  const rows = summaries.map((s) => {
    const ack = s.human.acknowledged + (s.ai?.acknowledged ?? 0);
    const missing = s.human.missingOnFirstCheck + (s.ai?.missingOnFirstCheck ?? 0);
    const delivered = s.human.finallyDelivered + (s.ai?.finallyDelivered ?? 0);
    const healed = s.human.healed + (s.ai?.healed ?? 0);
    return [
      s.mode,
      String(s.tabs),
      String(ack),
      `${missing} (${pct(missing, ack)})`,
      String(healed),
      String(delivered),
      ms(s.timeToVisibleMs),
      String(s.duplicates.total),
      fmt(s.healCallsPerDelivered, 2),
      s.failedRounds ? `${s.failedRounds}/${s.rounds} failed` : "ok",
    ];
  });
  return {
    header: ["mode", "tabs", "acknowledged", "missing on first check", "healed", "finally delivered", "time to visible p50 / p95 / max", "duplicates", "heal calls / delivered", "result"],
    rows,
    align: ["left", "right", "right", "right", "right", "right", "right", "right", "right", "left"],
  };
}

export function overviewTable(summaries: Summary[]): string {
  const t = overviewTableData(summaries);
  return markdownTable(t.header, t.rows, t.align);
}
