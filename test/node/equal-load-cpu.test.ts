// The CPU targets are judged on concurrent equal-load pairs: the idle rate taken out of each
// side, every pair against the bound, and no verdict from a run where a side lost messages.
import { describe, expect, it } from "vitest";
import {
  cleanSide,
  netCpuPerMessage,
  type EqualLoadCpuResult,
  type EqualLoadPath,
} from "../../bench/scenarios/equal-load-cpu";
import { checkTargets, equalLoadCpuTargets, headlineFigures, type BenchReport } from "../../bench/scenarios/report";
import { countWithin, pairedRatios } from "../../bench/lib/stats";

const side = (cpuMsPerMessage: number) => ({
  messages: 100,
  acked: 100,
  nacks: 0,
  missing: 0,
  drops: 0,
  trailMs: 40,
  answeredInWindow: 100,
  cpuMs: cpuMsPerMessage * 100,
  idleCpuMsPerSecond: 0,
  cpuMsPerMessage,
  coresUsed: 0.3,
});

function path(what: string, ours: number[], reference: number[], unclean = 0): EqualLoadPath {
  const runs = ours.map((o, i) => ({
    seconds: 5,
    sendLagP99Ms: 1,
    ours: side(o),
    reference: side(reference[i]!),
    ratio: o / reference[i]!,
    startedIdle: true,
    clean: i >= unclean,
  }));
  return { what, ratePerSecond: 100, warmup: runs[0]!, runs, cpu: pairedRatios(ours, reference), unclean };
}

const result = (socket: EqualLoadPath | null, http: EqualLoadPath | null): EqualLoadCpuResult => ({
  senders: 16,
  listeners: 10,
  warmupMs: 2_000,
  durationMs: 5_000,
  idleMs: 3_000,
  graceMs: 5_000,
  socket,
  http,
});

describe("server CPU per message at an equal load", () => {
  it("takes each side's idle CPU rate over the window out before dividing by the messages", () => {
    // 1,000 ms over 5 s, 20 ms/s of it idle: 900 ms for 100 messages.
    expect(netCpuPerMessage(1_000, 20, 5, 100)).toBe(9);
    expect(netCpuPerMessage(null, 20, 5, 100)).toBeNull();
    expect(netCpuPerMessage(1_000, null, 5, 100)).toBeNull();
    expect(netCpuPerMessage(1_000, 20, 5, 0)).toBeNull();
  });

  it("divides a window's CPU by the answers that came within it: each one counts in one window only", () => {
    const answers = [999, 1_000, 1_500, undefined, 2_000, 2_001];
    expect(countWithin(answers, 1_000, 2_000)).toBe(2);
    expect(countWithin(answers, 2_000, 3_000)).toBe(2);
    expect(countWithin(answers, 3_000, 4_000)).toBe(0);
  });

  it("counts a side as clean when it answered and delivered everything, also when it trailed its load", () => {
    expect(cleanSide(side(1))).toBe(true);
    // Over its capacity for a while: the window stays open until it is done, so the run still counts.
    expect(cleanSide({ ...side(1), trailMs: 3_000, answeredInWindow: 80 })).toBe(true);
    expect(cleanSide({ ...side(1), acked: 99 })).toBe(false);
    expect(cleanSide({ ...side(1), missing: 1 })).toBe(false);
    expect(cleanSide({ ...side(1), drops: 1 })).toBe(false);
  });

  it("meets a target only when every concurrent pair clears it, not the ratio of the means", () => {
    const [socket, http] = equalLoadCpuTargets(
      result(path("socket message", [0.9, 1.1, 0.9], [1, 1, 1]), path("HTTP post", [1, 1.05], [1, 1])),
    );
    expect(socket).toMatchObject({ name: "socket CPU vs reference", met: false });
    expect(socket!.target).toContain("measured concurrently");
    expect(socket!.measured).toContain("0.900–1.100");
    expect(http).toMatchObject({ name: "HTTP post CPU vs reference", met: true });
  });

  it("gives no verdict when a run lost or refused messages: that was not an equal load", () => {
    const [socket] = equalLoadCpuTargets(result(path("socket message", [0.9, 0.9], [1, 1], 1), null));
    expect(socket!.met).toBeNull();
    expect(socket!.measured).toContain("1 runs not clean");
  });

  it("judges the CPU targets on the equal-load pairs, never on the saturation runs", () => {
    const report = { cpu: result(path("socket message", [2], [1]), null) } as unknown as BenchReport;
    const cpuTargets = checkTargets(report).filter((t) => t.name.includes("CPU"));
    expect(cpuTargets).toEqual([expect.objectContaining({ name: "socket CPU vs reference", met: false })]);
    expect(headlineFigures(report)).toContain(
      "at an equal offered load, measured concurrently: socket message 2.000 × (concurrent pairs 2.000–2.000)",
    );
  });
});
