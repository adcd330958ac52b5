// `npm run bench`: throughput, socket writes (ours vs a bare reference room), server CPU per
// message against that room at an equal load measured concurrently, latency under
// a steady offered load, time to visible, requests per message, read and scroll-back latency
// with a long history, cost at real rates, streaming, a flood of random room names, and the fan-in of many rooms into the
// shared objects, against a local
// Worker on 127.0.0.1. Bounded in time; prints tables and writes JSON
// (docs/bench-latest.json by default).
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { BenchWorker } from "./lib/bench-worker";
import { UsageError } from "./lib/target";
import { historyBench, seedHistories } from "./scenarios/history";
import { BENCH_USAGE, parseBenchOptions } from "./scenarios/options";
import { benchTables, checkTargets, costTable, machine, type BenchReport } from "./scenarios/report";
import { costBench } from "./scenarios/cost";
import { equalLoadCpuBench } from "./scenarios/equal-load-cpu";
import { fanInBench } from "./scenarios/fan-in";
import { floodBench } from "./scenarios/flood";
import { limitCostBench } from "./scenarios/limit-cost";
import { openLoopBench } from "./scenarios/open-loop";
import { requestsBench } from "./scenarios/requests";
import { scrollBackBench } from "./scenarios/scroll-back";
import { socketWritesBench } from "./scenarios/socket-writes";
import { streamingBench } from "./scenarios/streaming";
import { throughputBench } from "./scenarios/throughput";
import { visibilityBench } from "./scenarios/visibility";

/**
 * The comparisons with the reference run ours as deployed: stats go to Analytics Engine only. The local
 * store (STATS_STORE = "local") is a stand-in for reading them back under `npm start`, work a deployment never does.
 */
const DEPLOYED_STATS = { STATS_STORE: "analytics-engine" };
/**
 * Measured write rates, messages a minute. At 1.5 messages are 40 s apart, each past a do room's
 * mirror lag (MIRROR_LAG_MS), so each pays its own mirror put and alarm, as at 1 a minute.
 */
const COST_WRITE_RATES = [1.5, 10, 100, 1_000];

async function main(): Promise<number> {
  const options = parseBenchOptions(process.argv.slice(2));
  if (options === "help") {
    console.log(BENCH_USAGE);
    return 0;
  }
  const log = (line: string) => console.log(line);
  const started = performance.now();
  const runTag = Date.now().toString(36);
  const worker = new BenchWorker();
  log("Starting a local Worker (wrangler dev on a free 127.0.0.1 port, fresh state)…");
  await worker.start();
  const report: Omit<BenchReport, "targets" | "durationSeconds"> = {
    kind: "bench",
    generatedAt: new Date().toISOString(),
    command: ["npm run bench", ...(process.argv.length > 2 ? ["--", ...process.argv.slice(2)] : [])].join(" "),
    machine: machine(),
    target: "local wrangler dev on 127.0.0.1",
    options,
  };
  const failed: { scenario: string; error: string }[] = [];
  /** A scenario that throws is reported and the others still run and are written. */
  const run = async (scenario: string, body: () => Promise<void>) => {
    try {
      await body();
    } catch (err) {
      log(`  ${scenario} FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      failed.push({ scenario, error: String(err) });
    }
  };
  /**
   * Ours on a Worker started fresh for one scenario, as the reference beside it is: neither then carries
   * the earlier scenarios' rooms, heap or timers. The shared Worker stops meanwhile (its state stays).
   */
  const onFreshWorker = async <T>(body: (fresh: BenchWorker) => Promise<T>): Promise<T> => {
    await worker.stop();
    const fresh = new BenchWorker(DEPLOYED_STATS);
    try {
      await fresh.start();
      return await body(fresh);
    } finally {
      await fresh.dispose();
      await worker.start();
    }
  };
  try {
    const want = (name: (typeof options.only)[number]) => options.only.includes(name);
    if (want("throughput")) {
      await run("throughput", async () => {
        log(`\nWrites to one room, ${options.concurrency} in flight, ${options.durationMs / 1000} s each:`);
        report.throughput = await throughputBench(
          worker.url,
          worker.adminToken,
          {
            concurrency: options.concurrency,
            durationMs: options.durationMs,
            rounds: options.httpRounds,
            runTag,
            serverPid: worker.pid,
          },
          log,
        );
      });
    }
    if (want("socket")) {
      await run("socket", async () => {
        log(
          `\nSocket writes into one do room, 16 senders each waiting for 10 listeners, ${options.socketMs / 1000} s each, ${options.socketRounds} rounds of reference, ours, ours, reference:`,
        );
        report.socket = await socketWritesBench(
          worker.url,
          worker.adminToken,
          {
            runTag,
            senders: 16,
            listeners: 10,
            durationMs: options.socketMs,
            rounds: options.socketRounds,
            warmupMs: 1_000,
            serverPid: worker.pid,
          },
          log,
        );
      });
    }
    if (want("cpu")) {
      await run("cpu", async () => {
        log(
          `\nServer CPU per message at an equal offered load, ours and the reference room loaded at the same time (${options.cpuMs / 1000} s per run after ${options.cpuIdleMs / 1000} s idle and 2 s warm-up; a warm-up run, then ${options.cpuRounds} runs):`,
        );
        report.cpu = await onFreshWorker((fresh) =>
          equalLoadCpuBench(
            fresh.url,
            fresh.adminToken,
            {
              runTag,
              senders: 16,
              listeners: 10,
              socketRate: options.cpuRate,
              httpRate: options.cpuHttpRate,
              durationMs: options.cpuMs,
              idleMs: options.cpuIdleMs,
              rounds: options.cpuRounds,
              serverPid: fresh.pid,
            },
            log,
          ),
        );
      });
    }
    if (want("openloop")) {
      await run("openloop", async () => {
        log(
          `\nOpen-loop latency: the reference room's capacity, then 25, 50, 75 % of it and 200 msgs/s offered on schedule to both rooms (16 senders, 10 listeners, ${options.openLoopMs / 1000} s each, ${options.openLoopRounds} rounds):`,
        );
        report.openLoop = await onFreshWorker((fresh) =>
          openLoopBench(
            fresh.url,
            fresh.adminToken,
            {
              runTag,
              senders: 16,
              listeners: 10,
              fractions: [0.25, 0.5, 0.75],
              fixedRates: [200],
              durationMs: options.openLoopMs,
              rounds: options.openLoopRounds,
              capacityMs: options.quick ? 4_000 : 10_000,
              serverPid: fresh.pid,
            },
            log,
          ),
        );
      });
    }
    if (want("limits")) {
      await run("limits", async () => {
        log(
          `\nThe post limit and socket checks, active vs exempt, ${options.limitMs / 1000} s per run, both Workers loaded at once, two rounds:`,
        );
        report.limits = await limitCostBench(
          worker.url,
          worker.adminToken,
          {
            runTag,
            durationMs: options.limitMs,
            senders: 16,
            listeners: 10,
            concurrency: options.concurrency,
            exemptPid: worker.pid,
          },
          log,
        );
      });
    }
    if (want("visibility")) {
      await run("visibility", async () => {
        log("\nTime until another client sees a message:");
        report.visibility = await visibilityBench(
          worker.url,
          worker.adminToken,
          { runTag, pushMessages: 200, pollWindowMs: 15_000, postEveryMs: 250, pollMs: [5_000, 7_000] },
          log,
        );
      });
    }
    if (want("requests")) {
      await run("requests", async () => {
        log(`\nRequests per delivered message, 10 idle + 10 active pages per mode, ${options.windowMs / 1000} s:`);
        report.requests = await requestsBench(
          worker.url,
          worker.adminToken,
          { runTag, idlePages: 10, activePages: 10, windowMs: options.windowMs, postEveryMs: [8_000, 12_000] },
          log,
        );
      });
    }
    if (want("history") || want("scrollback")) {
      await run("history/scrollback", async () => {
        log(`\nRooms with ${options.history.join(" and ")} messages of history:`);
        const seeded = await seedHistories(
          worker,
          {
            runTag,
            sizes: options.history,
            seed: options.seed,
            httpBudgetMs: options.seedBudgetMs,
            concurrency: options.concurrency,
          },
          log,
        );
        if (want("history")) {
          log("GET recent(200):");
          report.history = await historyBench(worker, seeded, options.samples, log);
        }
        if (want("scrollback")) {
          log("Scroll-back pages (before=<seq>, 50 a page) anywhere in the log:");
          report.scrollBack = await scrollBackBench(worker, seeded, { samples: options.samples, pageSize: 50 }, log);
        }
      });
    }
    if (want("cost")) {
      await run("cost", async () => {
        log(
          `\nCost at real rates: per mode ${options.costIdlePages} pages idle for ${options.costIdleMs / 1000} s, then one page writing at ${COST_WRITE_RATES.join(", ")} messages/min, ${options.costWriteMs / 1000} s each:`,
        );
        report.cost = await costBench(
          worker.url,
          worker.adminToken,
          {
            runTag,
            idleMs: options.costIdleMs,
            idlePages: options.costIdlePages,
            writeMs: options.costWriteMs,
            writeRates: COST_WRITE_RATES,
            rates: [1, 10, 100, 1_000],
            pages: [10, 50],
          },
          log,
        );
      });
    }
    if (want("streaming")) {
      await run("streaming", async () => {
        log(`\nStreamed AI replies into one do room (${options.streamReplies} replies, 5 listening sockets):`);
        report.streaming = await streamingBench(
          worker.url,
          {
            runTag,
            replies: options.streamReplies,
            listeners: 5,
            tokens: 40,
            tokenDelayMs: 25,
            botToken: worker.botToken,
            adminToken: worker.adminToken,
          },
          log,
        );
      });
    }
    if (want("flood")) {
      await run("flood", async () => {
        log(
          `\nA flood of random room names: a real do room timed quietly (${options.floodQuietMs / 1000} s), during ${options.floodRate} requests/s for ${options.floodMs / 1000} s from ${options.floodAddresses} addresses, and quietly again:`,
        );
        report.flood = await floodBench(
          worker.url,
          worker.adminToken,
          {
            runTag,
            ratePerSecond: options.floodRate,
            durationMs: options.floodMs,
            addresses: options.floodAddresses,
            socketEvery: 20,
            inFlightPerAddress: 16,
            quietMs: options.floodQuietMs,
            realReadsPerSecond: 20,
            realMessagesPerSecond: 10,
            serverPid: worker.pid,
            stateDir: worker.persistTo,
          },
          log,
        );
      });
    }
    // Last: it ends with a flip of the default to kv.
    if (want("fan-in")) {
      await run("fan-in", async () => {
        log(
          `\nFan-in: ${options.fanInRooms} rooms at one message a second for ${options.fanInMs / 1000} s, then ${options.fanInRooms * 2} rooms, then a flip of the default:`,
        );
        report.fanIn = await fanInBench(
          worker.url,
          worker.adminToken,
          { runTag, rooms: options.fanInRooms, perRoomMs: 1_000, durationMs: options.fanInMs },
          log,
        );
      });
    }
  } finally {
    await worker.dispose();
  }
  const full: BenchReport = {
    ...report,
    durationSeconds: Math.round((performance.now() - started) / 1000),
    targets: checkTargets(report),
    ...(failed.length ? { failed } : {}),
  };
  log("");
  for (const table of benchTables(full)) log(`${table}\n`);
  if (full.cost) log(`${costTable(full.cost)}\n`);
  mkdirSync(dirname(options.json), { recursive: true });
  writeFileSync(options.json, `${JSON.stringify(full, null, 2)}\n`);
  log(`Wrote ${options.json} (${full.durationSeconds} s in all)`);
  if (failed.length) log(`Scenarios that failed: ${failed.map((f) => f.scenario).join(", ")}`);
  return failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof UsageError ? `bench: ${err.message}` : err);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
