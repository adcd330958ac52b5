// `npm run race`: the race lab. N tabs post into one room at the same moment, in kv
// and in do mode, then behave like the page; the real bot answers; the first version's table
// shows what reached the cache at first check, what was healed, what was delivered.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { RACE_USAGE, parseRaceOptions } from "./race/options";
import { runLab } from "./race/lab";
import { renderRaceReport } from "./race/report-html";
import { definitionsMarkdown, overviewTable, seedTable } from "./race/summary";
import { UsageError, openTarget } from "./lib/target";

function write(file: string, content: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content);
}

async function main(): Promise<number> {
  const options = parseRaceOptions(process.argv.slice(2), process.env);
  if (options === "help") {
    console.log(RACE_USAGE);
    return 0;
  }
  const log = (line: string) => console.log(line);
  const target = await openTarget(options, log);
  try {
    log(
      `Race: tabs ${options.tabs.join(",")}, modes ${options.modes.join(",")}, ${options.rounds} round(s), poll ${options.pollMs}–${Math.round(options.pollMs * 1.4)} ms, ` +
        `bot ${options.bot}${options.bots > 1 ? ` ×${options.bots}` : ""}, push ${options.push ? "on" : "off"}, deadline ${options.deadlineMs === null ? "30 s + 12 polls + 250 ms per tab" : `${Math.round(options.deadlineMs / 1000)} s`} per round`,
    );
    const command = ["npm run race", ...(process.argv.length > 2 ? ["--", ...process.argv.slice(2)] : [])].join(" ");
    const report = await runLab(options, target, log, command);
    log("");
    for (const summary of report.summaries) log(`${seedTable(summary)}\n`);
    log(overviewTable(report.summaries));
    log(`\n${definitionsMarkdown()}`);
    if (options.json) {
      write(options.json, `${JSON.stringify(report, null, 2)}\n`);
      log(`\nWrote ${options.json}`);
    }
    if (options.report) {
      write(options.report, renderRaceReport(report));
      log(`Wrote ${options.report}`);
    }
    for (const r of report.rounds.filter((x) => x.notes.length))
      log(`\nNote on ${r.mode} ${r.tabs} tabs round ${r.round}: ${r.notes.join("; ")}`);
    const failures = report.rounds.filter((r) => r.failures.length);
    for (const r of failures)
      log(`\nFAILED ${r.mode} ${r.tabs} tabs round ${r.round} (${r.room}):\n  - ${r.failures.join("\n  - ")}`);
    log(
      report.ok
        ? "\nEvery acknowledged message was delivered exactly once."
        : "\nSome rounds failed (see above): an acknowledged message not delivered exactly once, an unanswered message, or a round past its deadline.",
    );
    return report.ok ? 0 : 1;
  } finally {
    await target.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof UsageError ? `race: ${err.message}` : err);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
