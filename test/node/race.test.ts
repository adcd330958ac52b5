// The race lab end to end: `npm run race` (bench/race.ts) against its own wrangler dev,
// 29 tabs polling fast, the real bot (--offline) answering every message.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../scripts/local-worker";
import { raceReportSchema, type RaceReport, type Summary } from "../../bench/race/report-schema";

const TSX_CLI = join(PROJECT_ROOT, "node_modules", "tsx", "dist", "cli.mjs");
const dir = mkdtempSync(join(tmpdir(), "race-test-"));

function race(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [TSX_CLI, "bench/race.ts", ...args],
      { cwd: PROJECT_ROOT, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

function readReport(file: string): RaceReport {
  return raceReportSchema.parse(JSON.parse(readFileSync(file, "utf8")));
}

const summary = (report: RaceReport, mode: "kv" | "do"): Summary => {
  const found = report.summaries.find((s) => s.mode === mode && s.tabs === 29);
  if (!found) throw new Error(`no ${mode} summary in the report`);
  return found;
};

const lostOnFirstCheck = (s: Summary) => s.human.missingOnFirstCheck + (s.ai?.missingOnFirstCheck ?? 0);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("npm run race", () => {
  it("do delivers everything on first check; kv loses on first check and heals everything", async () => {
    const json = join(dir, "race.json");
    const html = join(dir, "race.html");
    const run = await race(["--tabs", "29", "--poll-ms", "300", "--bot", "offline", "--json", json, "--report", html]);
    expect(run.output).toContain("missing on first check");
    // The definitions are printed with the tables.
    expect(run.output).toContain("**Missing on first check**: an acknowledged message absent from the first poll");
    expect(run.code, run.output).toBe(0);

    const report = readReport(json);
    expect(report.ok).toBe(true);
    expect(report.options).toMatchObject({ tabs: [29], modes: ["kv", "do"], bot: "offline", pollMs: 300 });
    expect(report.rounds).toHaveLength(2);

    const doMode = summary(report, "do");
    expect(doMode.human).toMatchObject({
      posted: 29,
      acknowledged: 29,
      missingOnFirstCheck: 0,
      outOfWindowOnFirstCheck: 0,
      healed: 0,
      healCalls: 0,
      healsReadded: 0,
      finallyDelivered: 29,
      undelivered: [],
    });
    // Every message was judged once: by the first poll after its acknowledgement, or by a push before it.
    expect(doMode.human.inFirstPoll! + doMode.human.firstSeenByPush!).toBe(29);
    // The real bot answered every message, and its own checks (it has no socket) found every reply in its first poll.
    expect(doMode.ai).toMatchObject({
      acknowledged: 29,
      missingOnFirstCheck: 0,
      inFirstPoll: 29,
      firstSeenByPush: 0,
      healed: 0,
      healCalls: 0,
      healsReadded: 0,
      finallyDelivered: 29,
      undelivered: [],
    });
    expect(doMode.duplicates.total).toBe(0);
    expect(doMode.healCallsPerDelivered).toBe(0);
    expect(doMode.firstCheckLossPct).toBe(0);

    const kv = summary(report, "kv");
    expect(kv.human).toMatchObject({ acknowledged: 29, finallyDelivered: 29, undelivered: [] });
    expect(kv.ai).toMatchObject({ acknowledged: 29, finallyDelivered: 29, undelivered: [] });
    expect(kv.duplicates.total).toBe(0);
    // Every loss was noticed by a check and healed; a heal that re-added is a heal call.
    expect(kv.human.healed).toBe(kv.human.missingOnFirstCheck);
    expect(kv.human.healsReadded).toBeGreaterThanOrEqual(1);
    expect(kv.human.healsReadded).toBeLessThanOrEqual(kv.human.healCalls);

    // 29 read-modify-writes of one KV key released in the same tick: every read lands
    // before the first write completes, so the legacy path loses (the first version's failure).
    expect(lostOnFirstCheck(kv)).toBeGreaterThanOrEqual(1);

    // The HTML report: the chart inline, nothing fetched from elsewhere.
    const page = readFileSync(html, "utf8");
    expect(page).toContain("<svg");
    expect(page).toContain("Missing on first check");
    expect(page).not.toMatch(/<script|<link|<img|\ssrc=|url\(/i);
  });

  it("exits 1 when acknowledged messages are not delivered within the deadline", async () => {
    const json = join(dir, "deadline.json");
    // The tabs' first check comes 5–7 s after the post: a 1 s deadline cannot be met.
    const run = await race(["--tabs", "5", "--mode", "kv", "--bot", "none", "--deadline-ms", "1000", "--json", json]);
    expect(run.code, run.output).toBe(1);
    expect(run.output).toContain("FAILED kv 5 tabs");
    const report = readReport(json);
    expect(report.ok).toBe(false);
    expect(report.rounds[0]!.deadlineHit).toBe(true);
    expect(report.rounds[0]!.failures.join(" ")).toContain("deadline");
  });

  it("rejects bad options with exit code 2 and one clear line", async () => {
    const run = await race(["--tabs", "0"]);
    expect(run.code).toBe(2);
    expect(run.output.trim()).toBe("race: --tabs must be at least 1");
  });
});
