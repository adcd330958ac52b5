// `npm run soak`: the chaos soak. Writers post into rooms half in do and half in kv
// mode while the Worker is killed and restarted on its state, rooms flip between the
// modes and bots are killed mid-generation; then every acknowledged message is audited
// by the mode that acknowledged it. Exits 1 if a do-mode figure that must be 0 is not.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { SOAK_USAGE, parseSoakOptions } from "./soak/options";
import { historyLines, modeTable, soakSummary } from "./soak/report";
import { runSoak } from "./soak/run";
import { UsageError } from "./lib/target";

async function main(): Promise<number> {
  const options = parseSoakOptions(process.argv.slice(2));
  if (options === "help") {
    console.log(SOAK_USAGE);
    return 0;
  }
  // Ctrl-C or a kill: exit, and the exit hooks end wrangler's and the bots' process groups.
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));
  const log = (line: string) => console.log(line);
  const command = ["npm run soak", ...(process.argv.length > 2 ? ["--", ...process.argv.slice(2)] : [])].join(" ");
  const report = await runSoak(options, log, command);

  log("");
  log(`${modeTable("do", report.modes.do)}\n`);
  log(`${modeTable("kv", report.modes.kv)}\n`);
  log(soakSummary(report));
  for (const line of historyLines(report.history)) log(line);
  for (const note of report.notes) log(`Note: ${note}`);
  if (options.json) {
    mkdirSync(dirname(options.json), { recursive: true });
    writeFileSync(options.json, `${JSON.stringify(report, null, 2)}\n`);
    log(`Wrote ${options.json}`);
  }
  for (const failure of report.failures) log(`FAILED: ${failure}`);
  log(
    report.ok
      ? "do rooms: every acknowledged message in its room exactly once, none answered twice."
      : "do rooms: see FAILED above.",
  );
  return report.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof UsageError ? `soak: ${err.message}` : err);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
