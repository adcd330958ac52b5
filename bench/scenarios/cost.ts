// Cost per million messages, per mode, for a room with 10 and with 50 open pages: N
// messages posted at an even pace by page-like tabs (WebSocket and socket sends in do
// mode, the page's polling in kv mode), every operation counted, then priced
// (bench/cost/). What the client sees is counted at the client (Worker requests, socket
// messages); what only the server knows comes from its usage counters (src/storage/usage.ts):
// the Room's via GET /api/admin/rooms/:room; the shared objects' (Control, the registry
// shards), the Worker's KV operations and the stats data points via GET /api/admin/stats. Modes run one after the other, so the Worker's
// counts belong to the run. Page loads are left out (steady state); bot replies are not part of it.
import type { PathMode } from "../../src/shared/message";
import { KV_COUNT_NAMES, noKvCounts, type KvCounts, type UsageCounts, type UsageReport } from "../../src/shared/usage";
import { costPerMillion, perMessage, type CostCounts, type CostPerMillion } from "../cost/compute";
import { PRICES } from "../cost/prices";
import { ChatClient } from "../lib/api";
import { round } from "../lib/stats";
import { PAGE_CADENCE, Tab } from "../lib/tab";
import { now, sleep, waitFor } from "../lib/time";

export type CostRow = {
  mode: PathMode;
  pages: number;
  messages: number;
  delivered: number;
  seconds: number;
  counts: CostCounts;
  perMessage: CostCounts;
  usdPerMillionMessages: CostPerMillion;
  /** where the server-side counts came from: the Room, the shared objects, the Worker's own KV calls, the stats points */
  sources: { room: UsageDelta; control: UsageDelta; registry: UsageDelta; worker: KvCounts; statsPoints: number };
  /** a Durable Object's in-memory counters restarted during the run (it was evicted): its counts are short */
  countersRestarted: string[];
};

type UsageDelta = Omit<UsageCounts, "since">;

export type CostResult = {
  messages: number;
  windowMs: number;
  pages: number[];
  prices: typeof PRICES;
  rows: CostRow[];
};

export type CostOptions = { runTag: string; messages: number; windowMs: number; pages: number[] };

/** After the tabs stop: the outbox flush, the mirror (≤ 1 s) and the local stats batches (1 s) finish. */
const SETTLE_MS = 2_000;

type ServerSnapshot = { room: UsageCounts; usage: UsageReport };

async function serverSnapshot(admin: ChatClient, room: string): Promise<ServerSnapshot> {
  const [inspection, stats] = await Promise.all([admin.inspectRoom(room), admin.stats()]);
  if (!stats.usage?.localStats)
    throw new Error(
      "GET /api/admin/stats has no usage of the local stats store: run the Worker with STATS_STORE=local",
    );
  return { room: inspection.usage, usage: stats.usage };
}

function clientCounts(tabs: Tab[]) {
  return tabs.reduce(
    (sum, tab) => ({
      // Every HTTP request and every socket upgrade is a Worker request; a socket send is not.
      workerRequests: sum.workerRequests + tab.client.counter.total + tab.socketCounts.connects,
      socketMessagesIn: sum.socketMessagesIn + tab.socketCounts.sends + tab.socketCounts.pingsSent,
    }),
    { workerRequests: 0, socketMessagesIn: 0 },
  );
}

/** What an object counted between two snapshots; one that restarted meanwhile (evicted while idle) counts from its restart. */
function delta(after: UsageCounts, before: UsageCounts): UsageDelta {
  const { since: _since, ...counts } = after;
  const restarted = after.since !== before.since;
  return Object.fromEntries(
    Object.entries(counts).map(([k, v]) => [k, restarted ? v : v - before[k as keyof UsageCounts]]),
  ) as UsageDelta;
}

function sources(before: ServerSnapshot, after: ServerSnapshot): CostRow["sources"] {
  const worker = noKvCounts();
  for (const mode of ["kv", "do", "none"] as const) {
    for (const name of KV_COUNT_NAMES) worker[name] += after.usage.worker[mode][name] - before.usage.worker[mode][name];
  }
  return {
    room: delta(after.room, before.room),
    control: delta(after.usage.control, before.usage.control),
    registry: delta(after.usage.registry, before.usage.registry),
    worker,
    statsPoints: after.usage.localStats!.points - before.usage.localStats!.points,
  };
}

function serverCounts({
  room,
  control,
  registry,
  worker,
  statsPoints,
}: CostRow["sources"]): Omit<CostCounts, "workerRequests" | "socketMessagesIn"> {
  const both = (key: keyof UsageDelta) => room[key] + control[key] + registry[key];
  return {
    // an alarm run is a request too
    doRequests: both("requests") + room.alarms,
    // setAlarm bills as one row written
    sqlRowsWritten: both("sqlRowsWritten") + room.alarmsSet,
    sqlRowsRead: both("sqlRowsRead"),
    kvReads: both("kvReads") + worker.kvReads,
    kvWrites: both("kvWrites") + worker.kvWrites,
    kvLists: both("kvLists") + worker.kvLists,
    kvDeletes: both("kvDeletes") + worker.kvDeletes,
    statsPoints,
    alarms: room.alarms,
  };
}

async function runOne(
  url: string,
  admin: ChatClient,
  mode: PathMode,
  pages: number,
  options: CostOptions,
): Promise<CostRow> {
  const room = `bench-${options.runTag}-cost-${mode}-${pages}`;
  await admin.setRoomMode(room, mode);
  const tabs = Array.from(
    { length: pages },
    (_, i) =>
      new Tab({ client: new ChatClient(url), room, author: `page ${i + 1}`, cadence: PAGE_CADENCE, push: true }),
  );
  try {
    await Promise.all(tabs.map((tab) => tab.open({ randomPhase: true })));
    await sleep(SETTLE_MS);
    const before = await serverSnapshot(admin, room);
    const clientBefore = clientCounts(tabs);
    const started = now();
    const every = options.windowMs / options.messages;
    const sent = await Promise.all(
      Array.from({ length: options.messages }, async (_, n) => {
        await sleep(started + n * every - now());
        return tabs[n % pages]!.post(`cost message ${n + 1}`);
      }),
    );
    // Polling goes on for the whole window in both modes; then the last messages are verified.
    await sleep(started + options.windowMs - now());
    await waitFor(() => tabs.every((tab) => tab.unverified === 0), now() + 2 * PAGE_CADENCE.fast[1], 100);
    for (const tab of tabs) tab.stop();
    const clientAfter = clientCounts(tabs);
    const seconds = (now() - started) / 1000;
    await sleep(SETTLE_MS);
    const after = await serverSnapshot(admin, room);
    const from = sources(before, after);
    const counts: CostCounts = {
      workerRequests: clientAfter.workerRequests - clientBefore.workerRequests,
      socketMessagesIn: clientAfter.socketMessagesIn - clientBefore.socketMessagesIn,
      ...serverCounts(from),
    };
    const restarted = [
      // (a kv room's object takes no calls: only the inspection wakes it)
      ...(mode === "do" && after.room.since !== before.room.since ? ["room"] : []),
      ...(after.usage.control.since !== before.usage.control.since ? ["control"] : []),
      ...(after.usage.registry.since !== before.usage.registry.since ? ["registry"] : []),
    ];
    return {
      mode,
      pages,
      messages: options.messages,
      delivered: sent.filter((m) => m.verifiedAt !== undefined).length,
      seconds: round(seconds, 1)!,
      counts,
      perMessage: perMessage(counts, options.messages),
      sources: from,
      // Awake at most: the room, in do mode (no shared object is called per message).
      usdPerMillionMessages: costPerMillion(counts, options.messages, { objects: mode === "do" ? 1 : 0, seconds }),
      countersRestarted: restarted,
    };
  } finally {
    for (const tab of tabs) tab.stop();
  }
}

export async function costBench(
  url: string,
  adminToken: string,
  options: CostOptions,
  log: (line: string) => void,
): Promise<CostResult> {
  const admin = new ChatClient(url, { admin: adminToken });
  const rows: CostRow[] = [];
  for (const pages of options.pages) {
    for (const mode of ["kv", "do"] as const) {
      const row = await runOne(url, admin, mode, pages, options);
      const c = row.perMessage;
      log(
        `  ${mode} ${String(pages).padStart(3)} pages: ${row.delivered}/${row.messages} delivered in ${row.seconds} s; per message ${c.workerRequests.toFixed(2)} Worker req, ` +
          `${c.doRequests.toFixed(2)} DO req, ${c.socketMessagesIn.toFixed(2)} WS msgs in, ${c.sqlRowsWritten.toFixed(2)} rows written, ` +
          `${c.kvReads.toFixed(2)} KV reads, ${c.kvWrites.toFixed(2)} KV writes → $${row.usdPerMillionMessages.operations.toFixed(2)} per million messages ` +
          `(+ at most $${row.usdPerMillionMessages.durationAtMost.toFixed(2)} duration)${row.countersRestarted.length ? `; counters restarted: ${row.countersRestarted.join(", ")}` : ""}`,
      );
      rows.push(row);
    }
  }
  return { messages: options.messages, windowMs: options.windowMs, pages: options.pages, prices: PRICES, rows };
}
