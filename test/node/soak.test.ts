// The chaos soak end to end, small: `npm run soak` (bench/soak.ts) against its own
// wrangler dev, killed and restarted once, rooms flipping, a bot killed once; every
// message a do room acknowledged must be in its room exactly once.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../scripts/local-worker";
import { soakReportSchema } from "../../bench/soak/report-schema";

const TSX_CLI = join(PROJECT_ROOT, "node_modules", "tsx", "dist", "cli.mjs");
const dir = mkdtempSync(join(tmpdir(), "soak-test-"));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("npm run soak", () => {
  it("keeps every do-acknowledged message through a Worker kill, flips and a bot kill", async () => {
    const json = join(dir, "soak.json");
    const args = [
      "--minutes",
      "0.3",
      "--writers",
      "8",
      "--rooms",
      "2",
      "--posts",
      "120",
      "--server-kills",
      "1",
      "--bot-kills",
      "1",
      "--bots",
      "1",
      "--flip-every-s",
      "4",
      "--settle-s",
      "15",
      "--json",
      json,
    ];
    const run = await new Promise<{ code: number; output: string }>((resolve) => {
      execFile(
        process.execPath,
        [TSX_CLI, "bench/soak.ts", ...args],
        { cwd: PROJECT_ROOT, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => {
          resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, output: `${stdout}${stderr}` });
        },
      );
    });
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain("do rooms (serialized");

    const report = soakReportSchema.parse(JSON.parse(readFileSync(json, "utf8")));
    expect(report.ok).toBe(true);
    expect(report.chaos.serverKills).toHaveLength(1);
    expect(report.chaos.botKills).toHaveLength(1);
    expect(report.posts.attempted).toBe(120);
    const doAll = report.modes.do.all;
    expect(doAll.acknowledged).toBeGreaterThan(0);
    expect(doAll).toMatchObject({ missingWithoutHeal: 0, healed: 0, lostForGood: 0, duplicates: 0, answeredTwice: 0 });
    // Every post was acknowledged by one mode or the other.
    expect(report.modes.do.human.acknowledged + report.modes.kv.human.acknowledged).toBe(report.posts.acknowledged);

    // The history checker ran over every send and the readers' reads, and found nothing in do mode.
    const history = report.history!;
    expect(history).toBeDefined();
    expect(history.ops.sends).toBeGreaterThanOrEqual(report.posts.attempted);
    expect(history.observations).toBeGreaterThan(0);
    expect(history.readers).toBeGreaterThanOrEqual(2 * report.options.rooms);
    expect(history.modes.do.acknowledged).toBeGreaterThan(0);
    expect(history.modes.do.total, JSON.stringify(history.modes.do.anomalies)).toBe(0);
    expect(run.output).toMatch(/History check: .*\n {2}do: 0 anomalies/);
  });
});
