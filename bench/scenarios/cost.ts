// Cost per million messages at real rates, per mode (bench/cost/rates.ts): the operations of
// open pages when nobody writes (page-like tabs: WebSocket in do mode, the page's polling in
// kv mode), counted per page-second, and the operations of a message at two or three rates
// (one page writing, its own idle share taken out), every operation counted, then priced
// (bench/cost/). What the client sees is counted at the client (Worker requests, socket
// messages); what only the server knows comes from its usage counters (src/storage/usage.ts):
// the Room's via GET /api/admin/rooms/:room; the shared objects' (Control, the registry
// shards), the Worker's KV operations and the stats data points via GET /api/admin/stats. Modes run one after the other, so the Worker's
// counts belong to the run. Page loads are left out (steady state); bot replies are not part of it.
import type { PathMode } from "../../src/shared/message";
import { KV_COUNT_NAMES, noKvCounts, type KvCounts, type UsageCounts, type UsageReport } from "../../src/shared/usage";
import { perMessage, type CostCounts } from "../cost/compute";
import { PRICES } from "../cost/prices";
import { costAtRates, perMessageBeyondIdle, usdPerMillion, usdPerPageHour, type CostRateRow } from "../cost/rates";
import { ChatClient } from "../lib/api";
import { round } from "../lib/stats";
import { PAGE_CADENCE, Tab } from "../lib/tab";
import { now, sleep, waitFor } from "../lib/time";
import { MIRROR_LAG_MS } from "../../src/shared/message";

type UsageDelta = Omit<UsageCounts, "since">;

/** What one window counted. */
export type CostWindow = {
  pages: number;
  seconds: number;
  counts: CostCounts;
  /** where the server-side counts came from: the Room, the shared objects, the Worker's own KV calls, the stats points */
  sources: { room: UsageDelta; control: UsageDelta; registry: UsageDelta; worker: KvCounts; statsPoints: number };
  /** a Durable Object's in-memory counters restarted during the window (it was evicted): its counts are short */
  countersRestarted: string[];
};

/** One page writing at `ratePerMinute`: perMessage is beyond the page's own idle share. */
export type CostWrites = CostWindow & {
  ratePerMinute: number;
  messages: number;
  delivered: number;
  perMessage: CostCounts;
  usdPerMillionMessages: number;
};

export type CostMode = {
  mode: PathMode;
  idle: CostWindow & { perPageSecond: CostCounts; usdPerMillionPageSeconds: number; usdPerPageHour: number };
  writes: CostWrites[];
};

export type CostResult = {
  idleMs: number;
  writeMs: number;
  /** the rates the table is computed for, messages a minute per room, and its open pages */
  rates: number[];
  pages: number[];
  prices: typeof PRICES;
  modes: CostMode[];
  table: CostRateRow[];
};

export type CostOptions = {
  runTag: string;
  idleMs: number;
  idlePages: number;
  writeMs: number;
  /** measured write rates, messages a minute */
  writeRates: number[];
  rates: number[];
  pages: number[];
};

/**
 * After a window: the outbox flush and the local stats batches (1 s) that carry the Worker's KV
 * counts finish, so they are counted in their own window. A do room's mirror trails its log by up
 * to MIRROR_LAG_MS: its write windows run on that much longer.
 */
const SETTLE_MS = 3_000;
/** How often a do window inspects its room so it is not evicted (idle eviction comes after about ten seconds). */
const KEEP_AWAKE_MS = 3_000;

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

function sources(before: ServerSnapshot, after: ServerSnapshot): CostWindow["sources"] {
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
}: CostWindow["sources"]): Omit<CostCounts, "workerRequests" | "socketMessagesIn"> {
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

/** Counts everything `tabs` and the server do while `work` runs (the tabs stay open). */
async function counted(
  admin: ChatClient,
  room: string,
  mode: PathMode,
  tabs: Tab[],
  work: () => Promise<void>,
  settleMs = SETTLE_MS,
) {
  const before = await serverSnapshot(admin, room);
  const clientBefore = clientCounts(tabs);
  const started = now();
  // A do room idle for a few seconds may be evicted (its sockets hibernate), and its counters are in
  // memory: an inspection every few seconds (not a billed request) keeps it whole for the window.
  let windowOpen = true;
  const keptAwake =
    mode === "do"
      ? (async () => {
          while (windowOpen) {
            await admin.inspectRoom(room);
            await sleep(KEEP_AWAKE_MS);
          }
        })()
      : Promise.resolve();
  await work();
  // The window runs on, pages open, until the server has counted the work's last operations:
  // client and server counts then cover the same time.
  await sleep(settleMs);
  windowOpen = false;
  await keptAwake;
  const clientAfter = clientCounts(tabs);
  const seconds = (now() - started) / 1000;
  const after = await serverSnapshot(admin, room);
  const from = sources(before, after);
  const counts: CostCounts = {
    workerRequests: clientAfter.workerRequests - clientBefore.workerRequests,
    socketMessagesIn: clientAfter.socketMessagesIn - clientBefore.socketMessagesIn,
    ...serverCounts(from),
  };
  const countersRestarted = [
    // (a kv room's object takes no calls: only the inspection wakes it)
    ...(mode === "do" && after.room.since !== before.room.since ? ["room"] : []),
    ...(after.usage.control.since !== before.usage.control.since ? ["control"] : []),
    ...(after.usage.registry.since !== before.usage.registry.since ? ["registry"] : []),
  ];
  return { pages: tabs.length, seconds: round(seconds, 1)!, counts, sources: from, countersRestarted };
}

async function openTabs(url: string, room: string, pages: number, name: string): Promise<Tab[]> {
  const tabs = Array.from(
    { length: pages },
    (_, i) =>
      new Tab({ client: new ChatClient(url), room, author: `${name} ${i + 1}`, cadence: PAGE_CADENCE, push: true }),
  );
  await Promise.all(tabs.map((tab) => tab.open({ randomPhase: true })));
  await sleep(SETTLE_MS);
  return tabs;
}

/** `pages` open pages, nobody writing, for the idle window: operations per page-second. */
async function idleWindow(url: string, admin: ChatClient, mode: PathMode, options: CostOptions) {
  const room = `bench-${options.runTag}-cost-idle-${mode}`;
  await admin.setRoomMode(room, mode);
  const tabs = await openTabs(url, room, options.idlePages, "idle page");
  try {
    const window = await counted(admin, room, mode, tabs, () => sleep(options.idleMs));
    const perPageSecond = perMessage(window.counts, window.pages * window.seconds);
    const usd = usdPerMillion(perPageSecond);
    return { ...window, perPageSecond, usdPerMillionPageSeconds: usd, usdPerPageHour: usdPerPageHour(usd) };
  } finally {
    for (const tab of tabs) tab.stop();
  }
}

/** One page writing at each measured rate in turn, in one room: operations per message beyond its idle share. */
async function writeWindows(
  url: string,
  admin: ChatClient,
  mode: PathMode,
  idle: CostMode["idle"],
  options: CostOptions,
): Promise<CostWrites[]> {
  const room = `bench-${options.runTag}-cost-writes-${mode}`;
  await admin.setRoomMode(room, mode);
  const [tab] = await openTabs(url, room, 1, "writer");
  const results: CostWrites[] = [];
  // What a do room does after a change (its mirror) is counted with the change's window.
  const settleMs = mode === "do" ? MIRROR_LAG_MS + SETTLE_MS : SETTLE_MS;
  try {
    // The room's first message creates it (tables, marker): a room's cost, not a message's.
    await tab!.post("the room's first message");
    await sleep(settleMs);
    for (const ratePerMinute of options.writeRates) {
      const every = 60_000 / ratePerMinute;
      // At least six (three below 10 a minute, where each takes its own 40 s): a slow rate's few
      // messages would carry the window's small noise each.
      const messages = Math.max(ratePerMinute < 10 ? 3 : 6, Math.round(options.writeMs / every));
      let delivered = 0;
      const window = await counted(
        admin,
        room,
        mode,
        [tab!],
        async () => {
          const started = now();
          const sent = await Promise.all(
            Array.from({ length: messages }, async (_, n) => {
              await sleep(started + n * every - now());
              return tab!.post(`cost message ${ratePerMinute}/min ${n + 1}`);
            }),
          );
          // Each message gets its whole interval, then the last ones are verified.
          await sleep(started + messages * every - now());
          await waitFor(() => tab!.unverified === 0, now() + 2 * PAGE_CADENCE.fast[1], 100);
          delivered = sent.filter((m) => m.verifiedAt !== undefined).length;
        },
        settleMs,
      );
      const per = perMessageBeyondIdle(window.counts, idle.perPageSecond, window.seconds, messages);
      results.push({
        ...window,
        ratePerMinute,
        messages,
        delivered,
        perMessage: per,
        usdPerMillionMessages: usdPerMillion(per),
      });
    }
  } finally {
    tab?.stop();
  }
  return results;
}

export async function costBench(
  url: string,
  adminToken: string,
  options: CostOptions,
  log: (line: string) => void,
): Promise<CostResult> {
  const admin = new ChatClient(url, { admin: adminToken });
  const modes: CostMode[] = [];
  // One mode after the other, so the Worker's and the shared objects' counts belong to it.
  for (const mode of ["kv", "do"] as const) {
    const idle = await idleWindow(url, admin, mode, options);
    const c = idle.perPageSecond;
    log(
      `  ${mode} idle, ${idle.pages} pages, ${idle.seconds} s: per page-hour ${(c.workerRequests * 3600).toFixed(1)} Worker req, ` +
        `${(c.doRequests * 3600).toFixed(1)} DO req, ${(c.socketMessagesIn * 3600).toFixed(1)} WS msgs in, ${(c.kvReads * 3600).toFixed(1)} KV reads ` +
        `→ $${idle.usdPerPageHour.toFixed(6)} per page-hour${idle.countersRestarted.length ? `; counters restarted: ${idle.countersRestarted.join(", ")}` : ""}`,
    );
    const writes = await writeWindows(url, admin, mode, idle, options);
    for (const w of writes) {
      const p = w.perMessage;
      log(
        `  ${mode} ${String(w.ratePerMinute).padStart(4)}/min: ${w.delivered}/${w.messages} delivered in ${w.seconds} s; per message ${p.workerRequests.toFixed(2)} Worker req, ` +
          `${p.doRequests.toFixed(2)} DO req, ${p.socketMessagesIn.toFixed(2)} WS msgs in, ${p.sqlRowsWritten.toFixed(2)} rows written, ` +
          `${p.kvReads.toFixed(2)} KV reads, ${p.kvWrites.toFixed(2)} KV writes → $${w.usdPerMillionMessages.toFixed(2)} per million messages` +
          `${w.countersRestarted.length ? `; counters restarted: ${w.countersRestarted.join(", ")}` : ""}`,
      );
    }
    modes.push({ mode, idle, writes });
  }
  const table = modes.flatMap((m) =>
    costAtRates(
      {
        mode: m.mode,
        idleUsdPerMillionPageSeconds: m.idle.usdPerMillionPageSeconds,
        messageUsdByRate: Object.fromEntries(m.writes.map((w) => [w.ratePerMinute, w.usdPerMillionMessages])),
      },
      options.rates,
      options.pages,
    ),
  );
  return {
    idleMs: options.idleMs,
    writeMs: options.writeMs,
    rates: options.rates,
    pages: options.pages,
    prices: PRICES,
    modes,
    table,
  };
}
