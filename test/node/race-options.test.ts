// The lab's and the benchmark's command lines: defaults and clear errors.
import { describe, expect, it } from "vitest";
import { defaultDeadlineMs, parseRaceOptions } from "../../bench/race/options";
import { parseBenchOptions } from "../../bench/scenarios/options";
import { percentile } from "../../bench/lib/stats";

describe("npm run race options", () => {
  it("defaults to 29 tabs, both modes, the page's 5–7 s poll and the offline bot", () => {
    const options = parseRaceOptions([], {});
    expect(options).toMatchObject({
      tabs: [29],
      modes: ["kv", "do"],
      rounds: 1,
      pollMs: 5_000,
      bot: "offline",
      bots: 1,
      push: true,
    });
    if (options === "help") throw new Error("unexpected help");
    // Each round's deadline then follows its tab count.
    expect(options.deadlineMs).toBeNull();
    expect(defaultDeadlineMs(5_000, 29)).toBe(30_000 + 12 * 7_000 + 29 * 250);
    expect(options.adminToken).toBeUndefined();
  });

  it("takes a list of tab counts, one mode, --no-push and tokens from the environment with --url", () => {
    const options = parseRaceOptions(
      ["--tabs", "8,29,100", "--mode", "do", "--no-push", "--url", "http://127.0.0.1:9/"],
      { ADMIN_TOKEN: "a", BOT_TOKEN: "b" },
    );
    expect(options).toMatchObject({
      tabs: [8, 29, 100],
      modes: ["do"],
      push: false,
      url: "http://127.0.0.1:9/",
      adminToken: "a",
      botToken: "b",
    });
  });

  it.each([
    [["--tabs", "8,,29"], "--tabs must be a number or a comma-separated list, e.g. 8,29,100"],
    [["--mode", "sql"], "--mode must be kv, do or both"],
    [["--bot", "gpt"], "--bot must be offline, ollama or none"],
    [["--poll-ms", "10"], "--poll-ms must be at least 50"],
    [["--report", "out.txt"], "--report must name an .html file"],
    [["--url", "not a url"], "--url must be a URL"],
    [["--frobnicate"], "Unknown option '--frobnicate'"],
    [["--url", "http://127.0.0.1:9"], "--url needs the admin token: pass --admin-token or set ADMIN_TOKEN"],
    [["--url", "http://127.0.0.1:9", "--admin-token", "a"], "--url with a bot needs the bot token"],
  ])("rejects %j", (args, message) => {
    expect(() => parseRaceOptions(args, {})).toThrow(message);
  });
});

describe("npm run bench options", () => {
  it("defaults to every scenario, 16 in flight for 5 s in two rounds, two rounds of 12 s socket writes, four concurrent 15 s CPU pairs at 100 msgs/s and 100 posts/s, 20 s open-loop runs, 1k and 100k of history read 200 times, cost from 50 idle pages for 60 s and 20 s write rates, 30 streamed replies, a flood of 2,000 requests/s for 30 s from 20 addresses, fan-in of 100 rooms for 60 s, JSON in docs/", () => {
    expect(parseBenchOptions([])).toMatchObject({
      json: "docs/bench-latest.json",
      only: [
        "throughput",
        "socket",
        "cpu",
        "openloop",
        "limits",
        "visibility",
        "requests",
        "history",
        "scrollback",
        "cost",
        "streaming",
        "flood",
        "fan-in",
      ],
      concurrency: 16,
      durationMs: 5_000,
      httpRounds: 2,
      socketMs: 12_000,
      socketRounds: 2,
      cpuMs: 15_000,
      cpuRounds: 4,
      cpuRate: 100,
      cpuHttpRate: 100,
      openLoopMs: 20_000,
      openLoopRounds: 2,
      history: [1_000, 100_000],
      samples: 200,
      seed: "auto",
      limitMs: 10_000,
      costIdleMs: 60_000,
      costIdlePages: 50,
      costWriteMs: 20_000,
      streamReplies: 30,
      fanInRooms: 100,
      fanInMs: 60_000,
      floodRate: 2_000,
      floodMs: 30_000,
      floodAddresses: 20,
      floodQuietMs: 15_000,
      quick: false,
    });
  });

  it("--quick shortens every window it is not told, writes apart from the committed results, and a flag given wins", () => {
    const quick = parseBenchOptions(["--quick", "--socket-ms", "7000"]);
    expect(quick).toMatchObject({ quick: true, json: ".tmp/bench-quick.json", socketMs: 7_000, socketRounds: 1 });
    if (quick === "help") throw new Error("not help");
    expect(quick.costIdleMs).toBeLessThan(60_000);
    expect(quick.openLoopMs).toBeLessThan(8_000);
    expect(quick.floodMs).toBeLessThan(30_000);
  });

  it.each([
    [
      ["--only", "throughput,speed"],
      "--only takes throughput, socket, cpu, openloop, limits, visibility, requests, history, scrollback, cost, streaming, flood, fan-in",
    ],
    [["--fan-in-rooms", "1"], "--fan-in-rooms must be at least 2"],
    [["--flood-addresses", "0"], "--flood-addresses must be at least 1"],
    [["--flood-addresses", "256"], "--flood-addresses must be at most 250"],
    [["--flood-rate", "20000"], "--flood-rate must be at most 10000"],
    [["--stream-replies", "0"], "--stream-replies must be at least 1"],
    [["--samples", "0"], "--samples must be at least 1"],
    [["--cost-idle-pages", "0"], "--cost-idle-pages must be at least 1"],
    [["--cost-write-ms", "10"], "--cost-write-ms must be at least 5000"],
    [["--http-rounds", "0"], "--http-rounds must be at least 1"],
    [["--open-loop-ms", "10"], "--open-loop-ms must be at least 1000"],
    [["--socket-ms", "10"], "--socket-ms must be at least 1000"],
    [["--socket-rounds", "0"], "--socket-rounds must be at least 1"],
    [["--history", "1000"], "--history takes at least two sizes, e.g. 1000,100000"],
    [["--seed", "magic"], "--seed must be auto, http or sqlite"],
  ])("rejects %j", (args, message) => {
    expect(() => parseBenchOptions(args)).toThrow(message);
  });
});

describe("percentiles", () => {
  it("uses the nearest rank", () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([7], 95)).toBe(7);
    expect(Number.isNaN(percentile([], 50))).toBe(true);
  });
});
