// The soak's tables (one per mode) and the do-mode verdict.
import type { PathMode } from "../../src/shared/message";
import { ANOMALY_KINDS, anomalyLine, type ModeCheck } from "../check/checker";
import { markdownTable } from "../lib/table";
import type { ModeAudit } from "./audit";
import type { FailureCounts, Side } from "./failures";
import type { ModeReport, Row, SoakReport } from "./report-schema";

export function modeReport(audit: ModeAudit, failures: Record<Side, FailureCounts>): ModeReport {
  const human: Row = {
    ...audit.human,
    serverErrors: failures.writers.serverErrors,
    noAnswer: failures.writers.noAnswer,
  };
  // A double answer is a fact about the human message: counted on its row only.
  const ai: Row = {
    ...audit.ai,
    answeredTwice: null,
    serverErrors: failures.bots.serverErrors,
    noAnswer: failures.bots.noAnswer,
  };
  const all = Object.fromEntries(
    Object.keys(human).map((key) => [key, (human[key as keyof Row] ?? 0) + (ai[key as keyof Row] ?? 0)]),
  ) as Row;
  return { human, ai, all, lost: audit.lost, duplicateIds: audit.duplicateIds, answeredTwice: audit.answeredTwice };
}

const COLUMNS: [keyof Row, string][] = [
  ["acknowledged", "acknowledged"],
  ["missingWithoutHeal", "missing without heal"],
  ["healed", "healed"],
  ["lostForGood", "lost for good"],
  ["beyondWindow", "beyond window"],
  ["duplicates", "duplicates"],
  ["answeredTwice", "answered twice"],
  ["serverErrors", "5xx seen"],
  ["noAnswer", "no answer"],
];

const TITLES: Record<PathMode, string> = {
  do: "do rooms (serialized: the room's Durable Object)",
  kv: "kv rooms (legacy: read-modify-write of one KV value)",
};

export function modeTable(mode: PathMode, report: ModeReport): string {
  const line = (label: string, row: Row) => [
    label,
    ...COLUMNS.map(([key]) => (row[key] === null ? "—" : row[key].toLocaleString("en-US"))),
  ];
  const table = markdownTable(
    ["messages", ...COLUMNS.map(([, title]) => title)],
    [line("human", report.human), line("AI replies", report.ai), line("all", report.all)],
    ["left", ...COLUMNS.map(() => "right" as const)],
  );
  return `${TITLES[mode]}\n\n${table}`;
}

/** The do figures that must be 0, as failure lines with their evidence. */
export function doFailures(report: ModeReport): string[] {
  const failures: string[] = [];
  const { all } = report;
  if (all.missingWithoutHeal)
    failures.push(`${all.missingWithoutHeal} do-acknowledged message(s) missing on their sender's first check`);
  if (all.healed) failures.push(`${all.healed} do-acknowledged message(s) put back by a heal`);
  if (all.lostForGood)
    failures.push(
      `${all.lostForGood} do-acknowledged message(s) not in their room's log: ${report.lost
        .slice(0, 5)
        .map((m) => `${m.id} (#${m.room})`)
        .join(", ")}`,
    );
  if (all.duplicates)
    failures.push(`${all.duplicates} id(s) shown twice: ${report.duplicateIds.slice(0, 5).join(", ")}`);
  if (all.answeredTwice) {
    const examples = report.answeredTwice
      .slice(0, 3)
      .map(
        (d) =>
          `${d.humanId} (#${d.room}: ${d.replies.map((r) => `${r.id} ${r.mode ?? "?"} seq ${r.seq ?? "-"}`).join(", ")})`,
      );
    failures.push(`${all.answeredTwice} human message(s) answered twice by a do room: ${examples.join("; ")}`);
  }
  return failures;
}

/** The history checker's do anomalies, each kind with a few examples: any one fails the run. */
export function historyFailures(check: ModeCheck): string[] {
  return ANOMALY_KINDS.filter((kind) => check.anomalies[kind].count > 0).map((kind) => {
    const { count, examples } = check.anomalies[kind];
    const shown = examples.slice(0, 3).map((a) => `${a.ids.join("/")} (#${a.room}, ${a.reader ?? "-"}: ${a.detail})`);
    return `history check: ${count} do ${kind}: ${shown.join("; ")}`;
  });
}

/** The history checker's counts, one line per mode; kv's are the legacy path's own behaviour. */
export function historyLines(history: SoakReport["history"]): string[] {
  if (!history) return [];
  const { ops } = history;
  const n = (value: number) => value.toLocaleString("en-US");
  return [
    `History check: ${n(ops.sends)} sends (${n(ops.ok)} ok, ${n(ops.fail)} fail, ${n(ops.info)} info), ` +
      `${n(ops.heals)} heals (${n(ops.readded)} re-added), ` +
      `${n(history.observations)} reads by ${history.readers} readers`,
    ...modeVerdicts(history).map((line) => `  ${line}`),
  ];
}

/** The history checker's verdict per mode, one line each (do first). */
export function modeVerdicts(history: NonNullable<SoakReport["history"]>): string[] {
  return [anomalyLine("do", history.modes.do), `${anomalyLine("kv", history.modes.kv)}: the legacy path's behaviour`];
}

const ANOMALY_HEADINGS: Record<(typeof ANOMALY_KINDS)[number], string> = {
  lostWrites: "lost writes",
  duplicates: "duplicates",
  abortedReads: "aborted reads",
  phantoms: "phantoms",
  orderAnomalies: "order",
  statusRegressions: "status regressions",
  doubleAnswers: "double answers",
};

/** The history checker's verdict as a table: one row per mode, one column per anomaly kind. */
export function historyTable(history: NonNullable<SoakReport["history"]>): string {
  const n = (value: number) => value.toLocaleString("en-US");
  const row = (mode: PathMode) => {
    const check = history.modes[mode];
    return [mode, n(check.acknowledged), ...ANOMALY_KINDS.map((kind) => n(check.anomalies[kind].count))];
  };
  return markdownTable(
    ["history check", "acknowledged", ...ANOMALY_KINDS.map((kind) => ANOMALY_HEADINGS[kind])],
    [row("do"), row("kv")],
    ["left", ...ANOMALY_KINDS.map(() => "right" as const), "right"],
  );
}

/** One line: what the soak did (posts, kills, flips, time). */
export function soakSummary({
  chaos,
  posts,
  durationSeconds,
}: Pick<SoakReport, "chaos" | "posts" | "durationSeconds">): string {
  const n = (value: number) => value.toLocaleString("en-US");
  return (
    `${n(posts.acknowledged)} of ${n(posts.attempted)} posts acknowledged (${n(posts.viaSocket)} over sockets), ${n(posts.aiReplies)} AI replies; ` +
    `Worker killed ${chaos.serverKills.length}×, bots killed ${chaos.botKills.length}× (${chaos.botKills.filter((k) => k.midGeneration).length} mid-generation), ` +
    `${chaos.flips.total} flips (${chaos.flips.toDo} to do, ${chaos.flips.toKv} to kv); ${Math.round(durationSeconds)} s in all.`
  );
}
