// `--report FILE.html`: one self-contained page (inline CSS and SVG, no scripts,
// no external assets) with the chart and the tables of a lab run.
import type { PathMode } from "../../src/shared/message";
import { barChartSvg, type Series } from "../lib/svg-chart";
import { htmlTable } from "../lib/table";
import type { RaceReport, Summary } from "./report-schema";
import { FIRST_CHECK_DEFINITIONS, overviewTableData, seedTableData } from "./summary";

const COLORS: Record<PathMode, string> = { kv: "#d9534f", do: "#2b7bb9" };
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Human messages only: the tabs' posts race each other, the bot's replies go one at a time. */
function lossPct(s: Summary): number | null {
  return s.human.acknowledged ? (100 * s.human.missingOnFirstCheck) / s.human.acknowledged : null;
}

/** The two charts: first-check loss % and time to visible, by tab count, kv vs do. */
export function raceChartsSvg(report: RaceReport): string[] {
  const tabCounts = [...new Set(report.summaries.map((s) => s.tabs))].sort((a, b) => a - b);
  const pick = (mode: PathMode, tabs: number) => report.summaries.find((s) => s.mode === mode && s.tabs === tabs);
  const modes = report.options.modes;
  const groups = tabCounts.map((t) => `${t} tabs`);

  const loss: Series[] = modes.map((mode) => ({
    name: `${mode} mode`,
    color: COLORS[mode],
    bars: tabCounts.map((t) => {
      const s = pick(mode, t);
      const v = s ? lossPct(s) : null;
      return { value: v, label: v === null ? "" : `${v.toFixed(1)}%` };
    }),
  }));
  const time: Series[] = modes.map((mode) => ({
    name: `${mode} mode`,
    color: COLORS[mode],
    bars: tabCounts.map((t) => {
      // Human messages: the ones the race loses (the bot's replies are written one at a time).
      const ttv = pick(mode, t)?.human.timeToVisibleMs;
      const sec = (v: number | null | undefined) => (v === null || v === undefined ? null : v / 1000);
      return { value: sec(ttv?.p50), whiskerTo: sec(ttv?.p95), tickAt: sec(ttv?.max) };
    }),
  }));
  const lossMax = Math.max(0, ...loss.flatMap((s) => s.bars.map((b) => b.value ?? 0)));
  return [
    barChartSvg({
      title: "Missing on first check, human messages",
      yLabel: "% of acknowledged messages",
      groups,
      series: loss,
      yMax: lossMax > 0 ? undefined : 10,
      format: (v) => `${Math.round(v)}%`,
    }),
    barChartSvg({
      title: "Time to visible, human messages: p50, p95 whisker, max dot",
      yLabel: "seconds after the Worker stored it",
      groups,
      series: time,
      format: (v) => v.toFixed(1),
    }),
  ];
}

export function renderRaceReport(report: RaceReport): string {
  const o = report.options;
  const overview = overviewTableData(report.summaries);
  const seed = report.summaries.map((s) => {
    const t = seedTableData(s);
    return `<section><h3>${esc(t.title ?? "")}</h3>\n${htmlTable(t.header, t.rows, t.align)}</section>`;
  });
  const failures = report.rounds.filter((r) => r.failures.length);
  const failureHtml = failures.length
    ? `<h2>Failed rounds</h2><ul>${failures.map((r) => `<li><b>${r.mode}, ${r.tabs} tabs, round ${r.round}</b> (${esc(r.room)}): ${esc(r.failures.join("; "))}</li>`).join("")}</ul>`
    : `<p class="ok">Every acknowledged message was delivered exactly once.</p>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lossless-chat race lab</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
  .charts { display: flex; flex-wrap: wrap; gap: 1.5rem; }
  .charts svg { background: #fff; border: 1px solid #e3e3e3; border-radius: 6px; max-width: 100%; height: auto; }
  table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
  th, td { border: 1px solid #ddd; padding: 0.3rem 0.6rem; text-align: left; }
  th { background: #f5f5f5; }
  .num { text-align: right; font-variant-numeric: tabular-nums; }
  .meta { color: #555; font-size: 0.9rem; }
  code { background: #f3f3f3; padding: 0.1rem 0.3rem; border-radius: 3px; }
  .ok { color: #1d7a35; font-weight: 600; }
  .tables { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 0 1.5rem; }
</style>
</head>
<body>
<h1>Race lab: kv vs do</h1>
<p class="meta">Generated ${esc(report.generatedAt)} by <code>${esc(report.command)}</code> against ${esc(report.target.url)}${report.target.local ? " (local wrangler dev)" : ""}.<br>
Tabs ${o.tabs.join(", ")}; ${o.rounds} round(s) per mode and tab count, each in a fresh room; tabs poll every ${o.pollMs}–${Math.round(o.pollMs * 1.4)} ms${o.push ? " and listen on the room's WebSocket in do mode" : ""}; bot: ${o.bot}.</p>
<p class="meta">Every tab posts at the same moment, then behaves like the page: it polls, checks its acknowledged ids against the room's list, and heals the missing ones.
The bot (bot/main.ts, a real process) answers every message and checks its own replies the same way.
Time to visible runs from the Worker's timestamp on the message (createdAt) until some tab received it (poll or push).</p>
<ul class="meta">${FIRST_CHECK_DEFINITIONS.map(
    (line) =>
      `<li>${esc(line)
        .replace(/\*\*(.+?)\*\*/g, "<b>$1</b>")
        .replace(/`(.+?)`/g, "<code>$1</code>")}</li>`,
  ).join("")}</ul>
<div class="charts">
${raceChartsSvg(report).join("\n")}
</div>
<h2>Overview</h2>
${htmlTable(overview.header, overview.rows, overview.align)}
${failureHtml}
<h2>The first version's table, per mode and tab count</h2>
<div class="tables">
${seed.join("\n")}
</div>
</body>
</html>
`;
}
