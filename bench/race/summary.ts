// Adds up a lab's rounds per mode and tab count, and prints the first version's table with the
// definitions of its counts.
import { round } from "../lib/stats";
import { fmt, markdownTable, pct, type Align } from "../lib/table";
import { percentiles } from "./round";
import type { RoundResult, Side, Summary } from "./report-schema";

/** What the lab's counts mean; printed with its tables, shown in the HTML report and docs/lab.md. */
export const FIRST_CHECK_DEFINITIONS = [
  "**Missing on first check**: an acknowledged message absent from the first poll (`GET /api/comments`) its sender requested after the acknowledgement, although that poll's window covered it.",
  "**In the first poll**: present in that poll. **First seen by push**: the room's socket pushed it before any such poll (do mode), so no poll judged it. **Out of window**: older than that poll's full 200-message window (pushed out by newer messages, not lost).",
  "**Human messages and AI replies are counted apart**: the tabs' posts race each other; the bot posts one reply at a time.",
  "**Heal calls**: every `POST /api/admin/add-to-cache` a sender made; **heals that re-added**: the calls the server answered `readded: true` (the message really was missing and was put back); **needed a heal**: messages with at least one heal call.",
];

/** A sum over rounds of a count that older result files lack: unknown if any round lacks it. */
function sumKnown(sides: Side[], pick: (s: Side) => number | undefined): number | undefined {
  const values = sides.map(pick);
  return values.some((v) => v === undefined) ? undefined : values.reduce((a: number, v) => a + v!, 0);
}

function addSides(sides: Side[], samples: number[]): Side {
  const sum = (pick: (s: Side) => number) => sides.reduce((a, s) => a + pick(s), 0);
  const optional = (
    key: "inFirstPoll" | "firstSeenByPush" | "outOfWindowOnFirstCheck" | "inCacheOnFirstCheck" | "healsReadded",
  ) => {
    const value = sumKnown(sides, (s) => s[key]);
    return value === undefined ? {} : { [key]: value };
  };
  return {
    posted: sum((s) => s.posted),
    acknowledged: sum((s) => s.acknowledged),
    ...optional("inFirstPoll"),
    missingOnFirstCheck: sum((s) => s.missingOnFirstCheck),
    ...optional("firstSeenByPush"),
    ...optional("outOfWindowOnFirstCheck"),
    ...optional("inCacheOnFirstCheck"),
    healed: sum((s) => s.healed),
    healCalls: sum((s) => s.healCalls),
    ...optional("healsReadded"),
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
    const human = addSides(
      group.map((r) => r.human),
      humanSamples,
    );
    const ai = first.ai
      ? addSides(
          group.map((r) => r.ai!),
          aiSamples,
        )
      : null;
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

const known = (n: number | undefined) => (n === undefined ? "—" : String(n));

/** The first version's table for one mode and tab count: human messages and AI replies side by side. */
export function seedTableData(s: Summary): TableData {
  const ai = s.ai;
  const col = (h: string | number, a: string | number | null | undefined) => [String(h), ai ? String(a) : "—"];
  const both = (value: (side: Side) => string) => col(value(s.human), ai && value(ai));
  const missing = (side: Side) => `${side.missingOnFirstCheck} (${pct(side.missingOnFirstCheck, side.acknowledged)})`;
  const perDelivered = (side: Side) => (side.finallyDelivered ? fmt(side.healCalls / side.finallyDelivered, 2) : "—");
  const rows: string[][] = [
    ["posted", ...col(s.human.posted, ai?.posted)],
    ["acknowledged", ...col(s.human.acknowledged, ai?.acknowledged)],
    ["missing on first check", ...both(missing)],
    ["in the first poll", ...both((side) => known(side.inFirstPoll))],
    ["first seen by push", ...both((side) => known(side.firstSeenByPush))],
    ["out of window on first check", ...both((side) => known(side.outOfWindowOnFirstCheck))],
  ];
  // A result file from before these definitions: its one "found" count, under its own name.
  if (s.human.inFirstPoll === undefined)
    rows.push([
      "in cache on first check (older file: poll or push)",
      ...both((side) => known(side.inCacheOnFirstCheck)),
    ]);
  rows.push(
    ["needed a heal", ...col(s.human.healed, ai?.healed)],
    ["heal calls", ...col(s.human.healCalls, ai?.healCalls)],
    ["heals that re-added", ...both((side) => known(side.healsReadded))],
    ["finally delivered", ...col(s.human.finallyDelivered, ai?.finallyDelivered)],
    ["time to visible p50 / p95 / max", ...col(ms(s.human.timeToVisibleMs), ai && ms(ai.timeToVisibleMs))],
    ["duplicates", String(s.duplicates.ids), ai ? `${s.duplicates.doubleAnswers} answered twice` : "—"],
    ["heal calls per delivered message", ...both(perDelivered)],
  );
  if (s.human.undelivered.length || ai?.undelivered.length) {
    rows.push([
      "never delivered (of which seen, then overwritten)",
      ...col(
        `${s.human.undelivered.length} (${s.human.seenThenLost})`,
        ai && `${ai.undelivered.length} (${ai.seenThenLost})`,
      ),
    ]);
  }
  if (s.human.beyondWindow || ai?.beyondWindow)
    rows.push(["of which older than the final 200-message window", ...col(s.human.beyondWindow, ai?.beyondWindow)]);
  const title = `${s.mode} mode, ${s.tabs} tabs (${s.rounds} round${s.rounds === 1 ? "" : "s"}, bot: ${s.bot})`;
  return { title, header: ["", "human", "AI replies"], rows, align: ["left", "right", "right"] };
}

export function seedTable(s: Summary): string {
  const t = seedTableData(s);
  return `**${t.title}**\n\n${markdownTable(t.header, t.rows, t.align)}`;
}

/** One line per mode and tab count: human messages and AI replies apart, heal calls and re-adds apart. */
export function overviewTableData(summaries: Summary[]): TableData {
  const rows = summaries.map((s) => {
    const sides = s.ai ? [s.human, s.ai] : [s.human];
    const missing = (side: Side | null) =>
      side
        ? `${side.missingOnFirstCheck} of ${side.acknowledged} (${pct(side.missingOnFirstCheck, side.acknowledged)})`
        : "—";
    const delivered = sides.reduce((a, side) => a + side.finallyDelivered, 0);
    const acknowledged = sides.reduce((a, side) => a + side.acknowledged, 0);
    return [
      s.mode,
      String(s.tabs),
      missing(s.human),
      known(s.human.firstSeenByPush),
      missing(s.ai),
      String(sides.reduce((a, side) => a + side.healCalls, 0)),
      known(sumKnown(sides, (side) => side.healsReadded)),
      `${delivered} of ${acknowledged}`,
      ms(s.timeToVisibleMs),
      String(s.duplicates.total),
      s.failedRounds ? `${s.failedRounds}/${s.rounds} failed` : "ok",
    ];
  });
  return {
    header: [
      "mode",
      "tabs",
      "human: missing on first check",
      "human: first seen by push",
      "AI: missing on first check",
      "heal calls",
      "heals that re-added",
      "finally delivered",
      "time to visible p50 / p95 / max",
      "duplicates",
      "result",
    ],
    rows,
    align: ["left", "right", "right", "right", "right", "right", "right", "right", "right", "right", "left"],
  };
}

export function overviewTable(summaries: Summary[]): string {
  const t = overviewTableData(summaries);
  return markdownTable(t.header, t.rows, t.align);
}

/** The definitions as a markdown list, printed under the lab's tables. */
export function definitionsMarkdown(): string {
  return FIRST_CHECK_DEFINITIONS.map((line) => `- ${line}`).join("\n");
}
