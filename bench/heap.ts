// `npm run bench:heap`: JavaScript heap allocated per socket message in a do room of a local
// `wrangler dev`, against the bare reference room (bench/reference) under the same load: V8's
// sampling heap profiler, over each Worker's inspector, counting what every message allocates,
// collected garbage included. A room's isolate collects garbage on the thread that answers its
// sockets, so these bytes set how often a room pauses to collect; unlike CPU time, they do not
// follow the machine's speed. Writes docs/bench-heap.json (or --json FILE),
// rendered into docs/benchmarks.md. Options: --rounds N, --messages N (per round and room).
import { startLocalWorker, type LocalWorker } from "../scripts/local-worker";
import { z } from "zod";
import { ChatClient } from "./lib/api";
import { readFlags, validate } from "./lib/cli";
import {
  allocationSites,
  bundleSources,
  openInspector,
  sampleHeap,
  totalBytes,
  type HeapProfileNode,
  type Inspector,
} from "./lib/inspector";
import { OpenLoopRoom, schedule, sendOnSchedule } from "./lib/open-loop";
import { resultArgs, runBench, writeResult } from "./lib/result-file";
import { REFERENCE_CONFIG } from "./scenarios/socket-writes";
import { heapSitesTable, heapTable, type HeapReport } from "./heap-report";

const RATE = 100;
const SENDERS = 16;
const LISTENERS = 10;
const WARMUP_MESSAGES = 300;
const SAMPLING_INTERVAL = 512;
const GRACE_MS = 5_000;
const SITES = 12;

const optionsSchema = z.object({
  rounds: z.coerce.number().int().min(1, "--rounds takes a whole number above 0").default(2),
  messages: z.coerce.number().int().min(1, "--messages takes a whole number above 0").default(1_000),
});

type Side = { worker: LocalWorker; inspector: Inspector; room: OpenLoopRoom; sent: number };

/** Offers `count` messages on schedule, then waits until each is answered and at every listener. */
async function offer(side: Side, count: number): Promise<void> {
  const times = schedule(performance.now() + 50, RATE, count);
  await sendOnSchedule(times, (k, at) => side.room.send(side.sent + k, at, true));
  side.sent += count;
  await side.room.settle(GRACE_MS);
  const d = side.room.delivery();
  if (d.acked !== d.scheduled || d.missing || d.nacks || d.socketDrops) {
    throw new Error(`a message was not delivered cleanly: ${JSON.stringify({ ...d, latencyMs: undefined })}`);
  }
}

/** The heap allocated while `count` messages are offered and delivered. */
const sampled = (side: Side, count: number) => sampleHeap(side.inspector, SAMPLING_INTERVAL, () => offer(side, count));

async function open(worker: LocalWorker, socketUrl: string): Promise<Side> {
  const inspector = await openInspector(worker.inspectorPort);
  const room = await OpenLoopRoom.open(socketUrl, SENDERS, LISTENERS);
  return { worker, inspector, room, sent: 0 };
}

async function main(): Promise<void> {
  const { json, command } = resultArgs("bench:heap", "docs/bench-heap.json");
  const flags = readFlags(process.argv.slice(2), {
    rounds: { type: "string" },
    messages: { type: "string" },
    json: { type: "string" },
  });
  if (flags === "help") return console.log("npm run bench:heap -- [--rounds N] [--messages N] [--json FILE]");
  const { rounds, messages } = validate(optionsSchema, flags);
  // As deployed: stats go to Analytics Engine only (the local stats store is a stand-in for reading them back).
  const ours = await startLocalWorker({ vars: { STATS_STORE: "analytics-engine" } });
  let reference: LocalWorker | null = null;
  const sides: Side[] = [];
  try {
    const sourceOf = bundleSources();
    reference = await startLocalWorker({ config: REFERENCE_CONFIG });
    const admin = new ChatClient(ours.url, { admin: ours.adminToken });
    const room = `heap-${Date.now().toString(36)}`;
    await admin.setRoomMode(room, "do");
    sides.push(await open(ours, admin.socketUrl(room)));
    sides.push(await open(reference, new ChatClient(reference.url).socketUrl(room)));
    // Code compiled, caches filled, the rooms' first writes done: not what a message costs.
    await Promise.all(sides.map((side) => offer(side, WARMUP_MESSAGES)));
    const profiles: HeapProfileNode[][] = [[], []];
    for (let round = 0; round < rounds; round++) {
      for (const i of round % 2 ? [1, 0] : [0, 1]) {
        profiles[i]!.push(await sampled(sides[i]!, messages));
        const bytes = totalBytes(profiles[i]!.at(-1)!) / messages;
        console.log(`round ${round + 1}, ${i ? "reference" : "ours"}: ${(bytes / 1024).toFixed(1)} KiB per message`);
      }
    }
    const perMessage = (roots: HeapProfileNode[]) => roots.map((root) => Math.round(totalBytes(root) / messages));
    const report: HeapReport = {
      kind: "heap",
      generatedAt: new Date().toISOString(),
      command,
      ratePerSecond: RATE,
      messagesPerRound: messages,
      senders: SENDERS,
      listeners: LISTENERS,
      samplingInterval: SAMPLING_INTERVAL,
      ours: perMessage(profiles[0]!),
      reference: perMessage(profiles[1]!),
      oursSites: allocationSites(profiles[0]!, messages * rounds, sourceOf, SITES),
    };
    console.log(`${heapTable(report)}\n\n${heapSitesTable(report)}`);
    writeResult(json, report);
  } finally {
    for (const side of sides) {
      side.room.close();
      side.inspector.close();
    }
    await ours.stop();
    await reference?.stop();
  }
}

runBench(main);
