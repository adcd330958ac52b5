// What the one-file benches (bench:people, bench:rows) share: `--json FILE` and the command line
// that made a result, writing the result file, and a failure's exit code.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { PROJECT_ROOT } from "../../scripts/local-worker";
import { UsageError } from "./target";

/** The result file (`--json FILE`, else `fallback`) and the command line as the report records it. */
export function resultArgs(script: string, fallback: string): { json: string; command: string } {
  const args = process.argv.slice(2);
  const json = args.includes("--json") ? args[args.indexOf("--json") + 1]! : fallback;
  return { json, command: [`npm run ${script}`, ...(args.length ? ["--", ...args] : [])].join(" ") };
}

export function writeResult(json: string, report: unknown): void {
  const file = join(PROJECT_ROOT, json);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`Wrote ${json}`);
}

/** Runs a bench's main; a wrong command line prints its one line and exits 2, any other failure exits 1. */
export function runBench(main: () => Promise<void>): void {
  main().catch((err) => {
    console.error(err instanceof UsageError ? err.message : err);
    process.exit(err instanceof UsageError ? 2 : 1);
  });
}
