// `npm run readme`: README.md and the pages in docs/ are docs/sections/*.md, with every
// measured figure rendered from the committed result file that holds it. A section asks
// for a block with a line `<!-- figures:NAME -->`; nothing measured is typed by hand. The
// race lab's HTML report is rendered from its JSON too, and its chart PNG carries the
// report's hash. `npm test` runs this with --check and fails when any of them is stale.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { sha256, sourceHashOf } from "../bench/lib/png-source";
import { renderRaceReport } from "../bench/race/report-html";
import { join } from "node:path";
import { definitionsMarkdown, overviewTable, seedTable } from "../bench/race/summary";
import { raceReportSchema, type RaceReport } from "../bench/race/report-schema";
import {
  benchTables,
  costTable,
  fanInTable,
  fanInTargets,
  headlineFigures,
  type BenchReport,
} from "../bench/scenarios/report";
import { floodTable, floodTargets } from "../bench/scenarios/flood-report";
import { historyLines, historyTable, modeTable, modeVerdicts, soakSummary } from "../bench/soak/report";
import { soakReportSchema, type SoakReport } from "../bench/soak/report-schema";
import { markdownTable, type TargetCheck } from "../bench/lib/table";
import { peopleReportSchema, peopleTable } from "../bench/people-report";
import { rowsReportSchema, rowsTable } from "../bench/rows-report";
import { heapReportSchema, heapSitesTable, heapTable } from "../bench/heap-report";
import { PROJECT_ROOT } from "./local-worker";

/** Each page and the sections it joins: the README is what a newcomer reads first, the rest by purpose. */
export const PAGES: { file: string; sections: string[] }[] = [
  { file: "README.md", sections: ["intro", "deploy", "threats"] },
  { file: "docs/architecture.md", sections: ["architecture"] },
  { file: "docs/api.md", sections: ["api"] },
  { file: "docs/operations.md", sections: ["operations", "threats"] },
  { file: "docs/pages.md", sections: ["pages"] },
  { file: "docs/bot.md", sections: ["bot"] },
  { file: "docs/lab.md", sections: ["lab"] },
  { file: "docs/benchmarks.md", sections: ["benchmarks"] },
];

/** The race lab's HTML report is rendered from this result file; the chart PNG is taken from the report. */
const RACE_REPORT = { json: "docs/race-latest.json", html: "docs/race-report.html", png: "docs/race-chart.png" };

const read = (path: string) => readFileSync(join(PROJECT_ROOT, path), "utf8");
const race = (path: string): RaceReport => raceReportSchema.parse(JSON.parse(read(path)));
const bench = (): BenchReport => JSON.parse(read("docs/bench-latest.json")) as BenchReport;
const soak = (): SoakReport => soakReportSchema.parse(JSON.parse(read("docs/soak-latest.json")));
/** Fan-in runs 100+ rooms at once: on a loaded machine it is run alone, into a file of its own. */
const FAN_IN_ALONE = "npm run bench -- --only fan-in --json docs/bench-fan-in.json";
/** The flood saturates the local Worker for half a minute: it is run alone too, into a file of its own. */
const FLOOD_ALONE = "npm run bench -- --only flood --json docs/bench-flood.json";
/** The newest figures of a scenario run alone into `file`: the full run's, or the lone run's. */
function newestWith(file: string, has: (report: BenchReport) => unknown): { report: BenchReport; file: string } | null {
  const found = ["docs/bench-latest.json", file]
    .filter((file) => existsSync(join(PROJECT_ROOT, file)))
    .map((file) => ({ report: JSON.parse(read(file)) as BenchReport, file }))
    .filter(({ report }) => has(report));
  found.sort((a, b) => Date.parse(b.report.generatedAt) - Date.parse(a.report.generatedAt));
  return found[0] ?? null;
}
/** The newest fan-in figures: the full run's, or those of the scenario run alone. */
const fanInReport = () => newestWith("docs/bench-fan-in.json", (r) => r.fanIn);
/** A scenario's targets beside its figures. */
const targetsTable = (checks: TargetCheck[]) =>
  markdownTable(
    ["target", "measured", "met"],
    checks.map((c) => [c.target, c.measured, c.met === null ? "—" : c.met ? "yes" : "**no**"]),
    ["left", "left", "left"],
  );
const day = (iso: string) => iso.slice(0, 10);

/** The line above every block: the command that made it, when, and its result file. */
const provenance = (command: string, generatedAt: string, file: string, outcome: string) =>
  `\`${command}\` — ${day(generatedAt)}, local \`wrangler dev\` on this 2-core machine, ${outcome}; result file [${file}](${file}).`;

const raceOutcome = (r: RaceReport) => (r.ok ? "exit 0" : "**exit 1** (a round failed, see below)");
const soakOutcome = (r: SoakReport) => (r.ok ? "exit 0" : "**exit 1** (a do figure that must be 0 was not)");

const BLOCKS: Record<string, () => string> = {
  /** What people in a room cost in rows: presence, typing, reactions, edits. */
  "people": () => {
    const r = peopleReportSchema.parse(JSON.parse(read("docs/bench-people.json")));
    const outcome = `${r.operations} operations of each kind`;
    return [provenance(r.command, r.generatedAt, "docs/bench-people.json", outcome), peopleTable(r)].join("\n\n");
  },
  /** SQLite rows written per change in a do room, by table and index. */
  "rows": () => {
    const r = rowsReportSchema.parse(JSON.parse(read("docs/bench-rows.json")));
    const outcome = `${r.operations} operations of each kind`;
    return [provenance(r.command, r.generatedAt, "docs/bench-rows.json", outcome), rowsTable(r)].join("\n\n");
  },
  /** JavaScript heap allocated per socket message, ours against the reference room, and where ours allocates it. */
  "heap": () => {
    const r = heapReportSchema.parse(JSON.parse(read("docs/bench-heap.json")));
    const outcome = `${r.messagesPerRound} messages a round at ${r.ratePerSecond} a second`;
    const head = provenance(r.command, r.generatedAt, "docs/bench-heap.json", outcome);
    return [head, heapTable(r), heapSitesTable(r)].join("\n\n");
  },
  /** The README's opening figures: the 29-tab race, human messages, the soak's verdict, and the bench targets met. */
  "headline": () => {
    const r = race("docs/race-29.json");
    const b = bench();
    const s = soak();
    const soakVerdict = s.history ? modeVerdicts(s.history) : [];
    const side = (mode: "kv" | "do") => r.summaries.find((s) => s.mode === mode)!.human;
    const [kv, dd] = [side("kv"), side("do")];
    const t = (s: typeof kv) => `${s.timeToVisibleMs.p50 ?? "—"} / ${s.timeToVisibleMs.max ?? "—"} ms`;
    const known = (n: number | undefined) => (n === undefined ? "—" : String(n));
    const table = markdownTable(
      [`${r.options.tabs[0]} concurrent tabs, human messages`, "kv (legacy)", "do (Durable Object)"],
      [
        [
          "missing on first check",
          `${kv.missingOnFirstCheck} of ${kv.acknowledged}`,
          `${dd.missingOnFirstCheck} of ${dd.acknowledged}`,
        ],
        ["first seen by push", known(kv.firstSeenByPush), known(dd.firstSeenByPush)],
        ["heal calls", String(kv.healCalls), String(dd.healCalls)],
        ["heals that re-added", known(kv.healsReadded), known(dd.healsReadded)],
        [
          "finally delivered",
          `${kv.finallyDelivered} of ${kv.acknowledged}`,
          `${dd.finallyDelivered} of ${dd.acknowledged}`,
        ],
        ["time to visible p50 / max", t(kv), t(dd)],
      ],
      ["left", "right", "right"],
    );
    const judged = b.targets.filter((c) => c.met !== null);
    const missed = judged.filter((c) => !c.met).map((c) => c.target);
    const unjudged = b.targets.filter((c) => c.met === null).map((c) => c.target);
    const targets = `Benchmarks: **${judged.length - missed.length} of ${judged.length}** targets met${
      missed.length ? `; not met: ${missed.join("; ")}` : ""
    }${
      unjudged.length ? `; no verdict: ${unjudged.join("; ")}` : ""
    }. Every target, figure and reason: [docs/benchmarks.md](docs/benchmarks.md).`;
    return [
      provenance(r.command, r.generatedAt, "docs/race-29.json", raceOutcome(r)),
      table,
      provenance(s.command, s.generatedAt, "docs/soak-latest.json", soakOutcome(s)),
      [soakSummary(s), ...soakVerdict.map((line) => `${line}.`)].join(" "),
      provenance(b.command, b.generatedAt, "docs/bench-latest.json", `${b.durationSeconds} s`),
      headlineFigures(b),
      targets,
    ]
      .filter(Boolean)
      .join("\n\n");
  },
  "race-29": () => {
    const r = race("docs/race-29.json");
    return [
      provenance(r.command, r.generatedAt, "docs/race-29.json", raceOutcome(r)),
      ...r.summaries.map(seedTable),
      definitionsMarkdown(),
    ].join("\n\n");
  },
  "race-tabs": () => {
    const r = race("docs/race-latest.json");
    return [
      provenance(r.command, r.generatedAt, "docs/race-latest.json", raceOutcome(r)),
      overviewTable(r.summaries),
    ].join("\n\n");
  },
  "race-bots": () => {
    const r = race("docs/race-bots3.json");
    return [
      provenance(r.command, r.generatedAt, "docs/race-bots3.json", raceOutcome(r)),
      overviewTable(r.summaries),
    ].join("\n\n");
  },
  "soak": () => {
    const r = soak();
    const failures = r.failures.map((f) => `- FAILED: ${f}`).join("\n");
    const history = r.history ? [historyLines(r.history)[0]!, historyTable(r.history)] : [];
    return [
      provenance(r.command, r.generatedAt, "docs/soak-latest.json", soakOutcome(r)),
      soakSummary(r),
      modeTable("do", r.modes.do),
      modeTable("kv", r.modes.kv),
      ...history,
      failures,
    ]
      .filter(Boolean)
      .join("\n\n");
  },
  /** Cost per million messages; until a full bench run has written it, says so. */
  "cost": () => {
    const b = bench();
    if (!b.cost) return "Not measured yet — run `npm run bench` (or `npm run bench -- --only cost`).";
    return [
      provenance(b.command, b.generatedAt, "docs/bench-latest.json", `${b.durationSeconds} s in all`),
      costTable(b.cost),
    ].join("\n\n");
  },
  "bench": () => {
    const b = bench();
    // The fan-in figures have a block of their own, beside the design they measure.
    const failed = b.failed?.length
      ? [`**Scenarios that failed in this run:** ${b.failed.map((f) => `${f.scenario} (${f.error})`).join("; ")}`]
      : [];
    return [
      provenance(b.command, b.generatedAt, "docs/bench-latest.json", `${b.durationSeconds} s in all`),
      ...failed,
      ...benchTables({
        ...b,
        fanIn: undefined,
        flood: undefined,
        targets: b.targets.filter((c) => !FAN_IN_TARGETS.includes(c.name) && !c.name.startsWith("flood:")),
      }),
    ].join("\n\n");
  },
  "fan-in": () => {
    const found = fanInReport();
    if (!found) return `Not measured yet — run \`npm run bench\` (or \`${FAN_IN_ALONE}\`).`;
    const { report: b, file } = found;
    const fanIn = b.fanIn!;
    return [
      provenance(b.command, b.generatedAt, file, `${b.durationSeconds} s in all`),
      fanInTable(fanIn),
      targetsTable(fanInTargets(fanIn)),
    ].join("\n\n");
  },
  "flood": () => {
    const found = newestWith("docs/bench-flood.json", (r) => r.flood);
    if (!found) return `Not measured yet — run \`npm run bench\` (or \`${FLOOD_ALONE}\`).`;
    const { report: b, file } = found;
    return [
      provenance(b.command, b.generatedAt, file, `${b.durationSeconds} s in all`),
      floodTable(b.flood!),
      targetsTable(floodTargets(b.flood!)),
    ].join("\n\n");
  },
};

const FAN_IN_TARGETS = [
  "Control calls per message",
  "Control rows per message",
  "busiest shared object vs rooms",
  "one-room flag change",
];

const MARKER = /^<!-- figures:([a-z0-9-]+) -->$/;

/** A page under docs/ keeps the sections' root-relative links working: `docs/x` → `x`, `src/x` → `../src/x`. */
function relink(markdown: string, file: string): string {
  if (!file.startsWith("docs/")) return markdown;
  return markdown.replace(
    /(\]\(|src=")(?!https?:|#|mailto:)([^)"]+)/g,
    (_, open: string, target: string) =>
      `${open}${target.startsWith("docs/") ? target.slice("docs/".length) : `../${target}`}`,
  );
}

export function renderPage(sections: string[]): string {
  const rendered = sections.map((name) =>
    read(`docs/sections/${name}.md`)
      .trimEnd()
      .split("\n")
      .map((line) => {
        const name = MARKER.exec(line)?.[1];
        if (!name) return line;
        const block = BLOCKS[name];
        if (!block) throw new Error(`docs/sections: unknown figures block "${name}"`);
        return `${line}\n${block()}\n<!-- /figures:${name} -->`;
      })
      .join("\n"),
  );
  return `${rendered.join("\n\n")}\n`;
}

const check = process.argv.includes("--check");
let stale = false;
const html = renderRaceReport(race(RACE_REPORT.json));
if (!check) {
  writeFileSync(join(PROJECT_ROOT, RACE_REPORT.html), html);
  console.log(`Wrote ${RACE_REPORT.html}`);
} else if (read(RACE_REPORT.html) !== html) {
  console.error(`${RACE_REPORT.html} is not what ${RACE_REPORT.json} renders: run \`npm run readme\`.`);
  stale = true;
}
if (sourceHashOf(readFileSync(join(PROJECT_ROOT, RACE_REPORT.png))) !== sha256(html)) {
  console.error(
    `${RACE_REPORT.png} was not taken from the current ${RACE_REPORT.html}: run \`npx tsx bench/chart-png.ts\`.`,
  );
  stale = true;
}
for (const { file, sections } of PAGES) {
  const rendered = relink(renderPage(sections), file);
  if (!check) {
    writeFileSync(join(PROJECT_ROOT, file), rendered);
    console.log(`Wrote ${file}`);
  } else if (read(file) !== rendered) {
    console.error(`${file} is not what docs/sections and docs/*.json render: run \`npm run readme\`.`);
    stale = true;
  }
}
if (check && stale) process.exit(1);
if (check)
  console.log(
    `${[...PAGES.map((p) => p.file), RACE_REPORT.html, RACE_REPORT.png].join(", ")} match docs/sections and the result files in docs/.`,
  );
