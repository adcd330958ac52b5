// A flood of random room names vs a real room. The real room's people (reads of its last 50
// messages and socket sends seen at a listener, offered on schedule from 127.0.0.1) are timed
// quietly, then while a generator offers thousands of requests a second for never-written
// rooms (mostly reads, some socket upgrades) from a set of other loopback addresses, each its
// own client of the read limit, then quietly again. The flood is open-loop: a request goes out
// when it is due whatever the answers do; with its address's connections all busy it is counted
// as not sent on time, never queued where it would hide the server's delay. The shared objects'
// calls are read from their own counters around the flood.
import { readdirSync } from "node:fs";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { RATE_LIMITS } from "../../src/shared/rate-limits";
import { openSocketFrom } from "../../test/node/support/bound-client";
import type { ServerFrame } from "../../src/shared/frames";
import type { RoomsResponse } from "../../src/shared/api";
import { ChatClient } from "../lib/api";
import {
  openLoopLoad,
  schedule,
  sendOnSchedule,
  tailLatency,
  type OpenLoopResult,
  type TailLatency,
} from "../lib/open-loop";
import { runtimeCpuMs } from "../lib/proc-cpu";
import { round } from "../lib/stats";
import { sleep } from "../lib/time";
import type { UsageReport } from "../../src/shared/usage";
import { took } from "./fan-in";
import { waitUntilQuiet } from "./open-loop";

export type FloodOptions = {
  runTag: string;
  /** flood requests offered per second */
  ratePerSecond: number;
  durationMs: number;
  /** loopback addresses the flood comes from (127.0.1.1 …), each a client of its own */
  addresses: number;
  /** one flood request in this many is a socket upgrade; the rest are reads */
  socketEvery: number;
  /** flood requests in flight per address at most */
  inFlightPerAddress: number;
  /** each quiet phase's measured length */
  quietMs: number;
  /** the real room's reads and socket messages per second */
  realReadsPerSecond: number;
  realMessagesPerSecond: number;
  serverPid?: number;
  /** the local Worker's state directory, to count the files new objects create */
  stateDir?: string;
};

/** The real room over one phase: reads (scheduled → answered), socket messages (scheduled send → each listener). */
export type RealRoomPhase = {
  seconds: number;
  reads: TailLatency & { scheduled: number; ok: number; failed: number; notSentOnTime: number };
  messages: OpenLoopResult;
  /** wrangler + workerd CPU over the phase, ms per second (1000 = one core) */
  serverCpuMsPerSecond: number | null;
};

export type FloodGenerator = {
  offered: number;
  sent: number;
  /** due while every connection of its address was busy: not sent, counted here */
  notSentOnTime: number;
  reads: { sent: number; ok: number; refused: number; other: number; errors: number };
  sockets: { sent: number; hello: number; refused: number; other: number; errors: number };
  /** offered and answered (any status) per second over the flood */
  offeredPerSecond: number;
  answeredPerSecond: number;
  /** how late a sent request went out against its schedule */
  sendLagMs: TailLatency;
  /** a flood request's own time, scheduled → answered (or hello) */
  answerMs: TailLatency;
  /** this process's CPU (the generator and the real room's clients) over the flood, ms per second */
  generatorCpuMsPerSecond: number;
  serverCpuMsPerSecond: number | null;
  firstError?: string;
};

/** One kind of request, closed-loop: what it costs the server, so the flood's own cost can be read by its parts. */
export type RequestCost = {
  kind: string;
  requests: number;
  perSecond: number;
  /** answers by status */
  statuses: Record<string, number>;
  serverCpuMsPerRequest: number | null;
  /** files the local state directory gained (a new Durable Object has a SQLite database of its own) */
  stateFilesPerRequest: number | null;
};

export type FloodResult = {
  options: FloodOptions;
  /** each kind of request alone (16 in flight, a few seconds each), before the flood */
  costs: RequestCost[];
  realRoom: string;
  quietBefore: RealRoomPhase;
  flooded: RealRoomPhase;
  quietAfter: RealRoomPhase;
  flood: FloodGenerator;
  /** calls into the shared objects over the flood (its real-room traffic included) */
  controlCalls: number;
  registryCalls: number;
  /** flood room names that a room listing shows afterwards (a never-written room leaves no marker) */
  floodRoomsListed: number;
};

const WARMUP_MS = 2_000;
const GRACE_MS = 5_000;
const REAL_ADDRESS = "127.0.0.1";
const REAL_READS_IN_FLIGHT = 32;
const floodAddress = (i: number) => `127.0.1.${i + 1}`;

/** Reads of the real room offered on schedule over one keep-alive agent; latency from the scheduled time. */
async function realReads(
  url: string,
  room: string,
  ratePerSecond: number,
  warmupMs: number,
  durationMs: number,
): Promise<RealRoomPhase["reads"]> {
  const agent = new Agent({ keepAlive: true, maxSockets: REAL_READS_IN_FLIGHT });
  const start = performance.now() + 50;
  const count = Math.ceil(((warmupMs + durationMs) / 1000) * ratePerSecond);
  const times = schedule(start, ratePerSecond, count);
  const measureFrom = start + warmupMs;
  const latencies: number[] = [];
  let [scheduled, ok, failed, notSentOnTime, inFlight] = [0, 0, 0, 0, 0];
  const pending: Promise<void>[] = [];
  const one = (scheduledAt: number, measured: boolean) =>
    new Promise<void>((resolve) => {
      inFlight++;
      const done = (status: number) => {
        inFlight--;
        if (measured) {
          if (status === 200) {
            ok++;
            latencies.push(performance.now() - scheduledAt);
          } else failed++;
        }
        resolve();
      };
      const req = request(`${url}/api/comments?room=${room}&limit=50`, { agent, localAddress: REAL_ADDRESS }, (res) => {
        res.resume();
        res.on("end", () => done(res.statusCode ?? 0));
        res.on("error", () => done(0));
      });
      req.on("error", () => done(0));
      req.end();
    });
  try {
    await sendOnSchedule(times, (k) => {
      const measured = times[k]! >= measureFrom;
      if (measured) scheduled++;
      if (inFlight >= REAL_READS_IN_FLIGHT) {
        if (measured) notSentOnTime++;
        return;
      }
      pending.push(one(times[k]!, measured));
    });
    await Promise.race([Promise.all(pending), sleep(GRACE_MS)]);
  } finally {
    agent.destroy();
  }
  // A read not answered 200 within the grace time (or not sent on time) counts as slower than any answered.
  return { ...tailLatency(latencies, scheduled - ok), scheduled, ok, failed, notSentOnTime };
}

/** The real room's reads and socket messages together over one phase, and the server's CPU meanwhile. */
async function realRoomPhase(
  url: string,
  room: string,
  options: FloodOptions,
  durationMs: number,
): Promise<RealRoomPhase> {
  const cpuBefore = runtimeCpuMs(options.serverPid);
  const started = performance.now();
  const client = new ChatClient(url);
  const [reads, messages] = await Promise.all([
    realReads(url, room, options.realReadsPerSecond, WARMUP_MS, durationMs),
    openLoopLoad({
      socketUrl: client.socketUrl(room),
      senders: 2,
      listeners: 2,
      ratePerSecond: options.realMessagesPerSecond,
      warmupMs: WARMUP_MS,
      durationMs,
      graceMs: GRACE_MS,
    }),
  ]);
  const seconds = (performance.now() - started) / 1000;
  const cpuAfter = runtimeCpuMs(options.serverPid);
  return {
    seconds: round(seconds, 1)!,
    reads,
    messages,
    serverCpuMsPerSecond: cpuBefore === null || cpuAfter === null ? null : round((cpuAfter - cpuBefore) / seconds, 0),
  };
}

const COST_MS = 3_000;
export const COST_IN_FLIGHT = 16;
const LIMITED_ADDRESS = "127.0.2.1";

function filesUnder(dir: string | undefined): number | null {
  if (!dir) return null;
  let n = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true }))
    n += entry.isDirectory() ? (filesUnder(join(dir, entry.name)) ?? 0) : 1;
  return n;
}

/** `path()` requested closed-loop, 16 in flight, for `ms` from `localAddress`; statuses and server CPU per request. */
async function requestCost(
  kind: string,
  url: string,
  localAddress: string,
  path: () => string,
  options: FloodOptions,
  ms = COST_MS,
): Promise<RequestCost> {
  const agent = new Agent({ keepAlive: true, maxSockets: COST_IN_FLIGHT, localAddress });
  const statuses: Record<string, number> = {};
  const [cpuBefore, filesBefore] = [runtimeCpuMs(options.serverPid), filesUnder(options.stateDir)];
  const started = performance.now();
  const get = () =>
    new Promise<void>((resolve) => {
      const done = (status: string) => {
        statuses[status] = (statuses[status] ?? 0) + 1;
        resolve();
      };
      const req = request(`${url}${path()}`, { agent }, (res) => {
        res.resume();
        res.on("end", () => done(String(res.statusCode)));
        res.on("error", () => done("error"));
      });
      req.on("error", () => done("error"));
      req.end();
    });
  try {
    await Promise.all(
      Array.from({ length: COST_IN_FLIGHT }, async () => {
        while (performance.now() - started < ms) await get();
      }),
    );
  } finally {
    agent.destroy();
  }
  const seconds = (performance.now() - started) / 1000;
  const [cpuAfter, filesAfter] = [runtimeCpuMs(options.serverPid), filesUnder(options.stateDir)];
  const requests = Object.values(statuses).reduce((n, c) => n + c, 0);
  return {
    kind,
    requests,
    perSecond: round(requests / seconds, 0)!,
    statuses,
    serverCpuMsPerRequest:
      cpuBefore === null || cpuAfter === null || !requests ? null : round((cpuAfter - cpuBefore) / requests, 2),
    stateFilesPerRequest:
      filesBefore === null || filesAfter === null || !requests ? null : round((filesAfter - filesBefore) / requests, 2),
  };
}

/**
 * Where a flood's time goes: the Worker alone, a refusal by the read limit, a read of the real
 * room, of one never-written room again and again, and of a new never-written room each time.
 */
async function requestCosts(url: string, realRoom: string, options: FloodOptions): Promise<RequestCost[]> {
  const read = (room: string) => `/api/comments?room=${room}&limit=50`;
  const costs: RequestCost[] = [];
  const measure = async (...args: Parameters<typeof requestCost>) => {
    await waitUntilQuiet([options.serverPid]);
    costs.push(await requestCost(...args));
  };
  await measure("GET /api/health (the Worker alone)", url, REAL_ADDRESS, () => "/api/health", options);
  await measure("read of the real room", url, REAL_ADDRESS, () => read(realRoom), options);
  const never = `flood-${options.runTag}-never`;
  await measure("read of one never-written room, again and again", url, REAL_ADDRESS, () => read(never), options);
  await measure(
    "read of a new never-written room each time",
    url,
    REAL_ADDRESS,
    () => read(randomRoom(options.runTag)),
    options,
  );
  // Refusals: one address spends its read budget early in a window, then is measured inside that window.
  await waitUntilQuiet([options.serverPid]);
  const periodMs = RATE_LIMITS.READ_LIMITER.period * 1000;
  await sleep(periodMs - (Date.now() % periodMs) + 100);
  for (let spent = 0; spent < RATE_LIMITS.READ_LIMITER.limit; spent += COST_IN_FLIGHT)
    await Promise.all(
      Array.from({ length: COST_IN_FLIGHT }, () => fetchFrom(LIMITED_ADDRESS, `${url}${read(realRoom)}`)),
    );
  costs.push(
    await requestCost("read refused by the read limit (429)", url, LIMITED_ADDRESS, () => read(realRoom), options),
  );
  return costs;
}

/** One GET from `localAddress`, its status. */
const fetchFrom = (localAddress: string, target: string) =>
  new Promise<number>((resolve) => {
    const req = request(target, { localAddress }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", () => resolve(0));
    req.end();
  });

const randomRoom = (runTag: string) => `flood-${runTag}-${Math.random().toString(36).slice(2, 12)}`;
const isHello = (text: string) => (JSON.parse(text) as ServerFrame).type === "hello";

/** The flood itself: `ratePerSecond` requests of never-written rooms, on schedule, round-robin over the addresses. */
async function flood(url: string, options: FloodOptions, names: string[]): Promise<FloodGenerator> {
  const addresses = Array.from({ length: options.addresses }, (_, i) => floodAddress(i));
  const agents = addresses.map(
    (localAddress) => new Agent({ keepAlive: true, maxSockets: options.inFlightPerAddress, localAddress }),
  );
  const inFlight = addresses.map(() => 0);
  const reads = { sent: 0, ok: 0, refused: 0, other: 0, errors: 0 };
  const sockets = { sent: 0, hello: 0, refused: 0, other: 0, errors: 0 };
  const lags: number[] = [];
  const answers: number[] = [];
  let notSentOnTime = 0;
  let firstError: string | undefined;
  const pending = new Set<Promise<void>>();
  const track = (p: Promise<void>) => {
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };
  const wsBase = url.replace(/^http/, "ws");

  const read = (a: number, scheduledAt: number) =>
    new Promise<void>((resolve) => {
      const room = randomRoom(options.runTag);
      names.push(room);
      const done = (status: number | Error) => {
        inFlight[a]!--;
        if (status === 200) reads.ok++;
        else if (status === 429) reads.refused++;
        else if (typeof status === "number") reads.other++;
        else {
          reads.errors++;
          firstError ??= `read: ${status.message}`;
        }
        if (typeof status === "number") answers.push(performance.now() - scheduledAt);
        resolve();
      };
      const req = request(`${url}/api/comments?room=${room}&limit=50`, { agent: agents[a] }, (res) => {
        res.resume();
        res.on("end", () => done(res.statusCode ?? 0));
        res.on("error", done);
      });
      req.on("error", done);
      req.end();
    });

  const upgrade = async (a: number, scheduledAt: number) => {
    const room = randomRoom(options.runTag);
    names.push(room);
    try {
      const socket = await openSocketFrom(addresses[a]!, `${wsBase}/api/rooms/${room}/ws`);
      try {
        await socket.next(isHello);
        sockets.hello++;
        answers.push(performance.now() - scheduledAt);
      } finally {
        socket.close();
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (message === "upgrade refused with 429") sockets.refused++;
      else if (message.startsWith("upgrade refused")) sockets.other++;
      else {
        sockets.errors++;
        firstError ??= `socket: ${message}`;
      }
      if (message.startsWith("upgrade refused")) answers.push(performance.now() - scheduledAt);
    } finally {
      inFlight[a]!--;
    }
  };

  const count = Math.ceil((options.durationMs / 1000) * options.ratePerSecond);
  const start = performance.now() + 50;
  const times = schedule(start, options.ratePerSecond, count);
  const cpuBefore = process.cpuUsage();
  const serverBefore = runtimeCpuMs(options.serverPid);
  try {
    await sendOnSchedule(times, (k, at) => {
      const a = k % addresses.length;
      if (inFlight[a]! >= options.inFlightPerAddress) {
        notSentOnTime++;
        return;
      }
      inFlight[a]!++;
      lags.push(at - times[k]!);
      // Every socketEvery-th request of an address's turn is an upgrade (k / addresses keeps addresses alike).
      if (Math.floor(k / addresses.length) % options.socketEvery === 0) {
        sockets.sent++;
        track(upgrade(a, times[k]!));
      } else {
        reads.sent++;
        track(read(a, times[k]!));
      }
    });
    const ended = performance.now();
    const seconds = (ended - start) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const serverAfter = runtimeCpuMs(options.serverPid);
    const answered = answers.length;
    await Promise.race([Promise.all(pending), sleep(GRACE_MS)]);
    return {
      offered: count,
      sent: reads.sent + sockets.sent,
      notSentOnTime,
      reads,
      sockets,
      offeredPerSecond: round(count / seconds, 0)!,
      answeredPerSecond: round(answered / seconds, 0)!,
      sendLagMs: tailLatency(lags),
      answerMs: tailLatency(answers, reads.sent + sockets.sent - answers.length),
      generatorCpuMsPerSecond: round((cpu.user + cpu.system) / 1000 / seconds, 0)!,
      serverCpuMsPerSecond:
        serverBefore === null || serverAfter === null ? null : round((serverAfter - serverBefore) / seconds, 0),
      ...(firstError ? { firstError } : {}),
    };
  } finally {
    for (const agent of agents) agent.destroy();
  }
}

async function usage(admin: ChatClient): Promise<UsageReport> {
  const { usage } = await admin.stats();
  if (!usage) throw new Error("GET /api/admin/stats has no usage");
  return usage;
}

/** Calls into the Control object and the registry shards between two readings (an evicted object counts afresh). */
function callsBetween(a: UsageReport, b: UsageReport): { control: number; registry: number } {
  const shard = (u: UsageReport, i: number) => ({
    since: u.registry.shardSince[i]!,
    requests: u.registry.shardRequests[i]!,
  });
  return {
    control: took(b.control, a.control),
    registry: b.registry.shardRequests.reduce((n, _, i) => n + took(shard(b, i), shard(a, i)), 0),
  };
}

const ms = (v: number | null) => (v === null ? "—" : v.toFixed(1));
const phaseLine = (name: string, p: RealRoomPhase) =>
  `  ${name.padEnd(13)} reads p50 ${ms(p.reads.p50)} ms p99 ${ms(p.reads.p99)} ms` +
  ` (${p.reads.ok}/${p.reads.scheduled} answered)` +
  `   socket messages p50 ${ms(p.messages.latencyMs.p50)} ms p99 ${ms(p.messages.latencyMs.p99)} ms` +
  ` (${p.messages.acked}/${p.messages.scheduled} acked, ${p.messages.missing} missing)` +
  `   server CPU ${p.serverCpuMsPerSecond ?? "—"} ms/s`;

export async function floodBench(
  url: string,
  adminToken: string,
  options: FloodOptions,
  log: (line: string) => void,
): Promise<FloodResult> {
  const admin = new ChatClient(url, { admin: adminToken });
  const realRoom = `bench-${options.runTag}-flood-real`;
  await admin.setRoomMode(realRoom, "do");
  // A history to read: the last 50 messages are what a page asks for.
  for (let i = 0; i < 60; i++) await admin.post(realRoom, `history ${i}`, "bench");

  const costs = await requestCosts(url, realRoom, options);
  for (const c of costs)
    log(
      `  ${c.kind}: ${c.perSecond}/s closed-loop, server CPU ${c.serverCpuMsPerRequest ?? "—"} ms/request, ` +
        `${JSON.stringify(c.statuses)}, state files ${c.stateFilesPerRequest ?? "—"}/request`,
    );

  await waitUntilQuiet([options.serverPid]);
  const quietBefore = await realRoomPhase(url, realRoom, options, options.quietMs);
  log(phaseLine("quiet before", quietBefore));

  await waitUntilQuiet([options.serverPid]);
  const names: string[] = [];
  const before = await usage(admin);
  const [flooded, generator] = await Promise.all([
    realRoomPhase(url, realRoom, options, options.durationMs - WARMUP_MS),
    flood(url, options, names),
  ]);
  const calls = callsBetween(before, await usage(admin));
  log(phaseLine("flooded", flooded));
  const g = generator;
  log(
    `  flood: ${g.offered} offered (${g.offeredPerSecond}/s), ${g.sent} sent, ${g.notSentOnTime} not sent on time, ` +
      `${g.answeredPerSecond}/s answered; ` +
      `reads ${g.reads.ok} × 200, ${g.reads.refused} × 429, ${g.reads.other} other, ${g.reads.errors} errors; ` +
      `sockets ${g.sockets.hello} hello, ${g.sockets.refused} × 429, ${g.sockets.other} other, ` +
      `${g.sockets.errors} errors; send lag p99 ${ms(g.sendLagMs.p99)} ms; ` +
      `generator CPU ${g.generatorCpuMsPerSecond} ms/s, server CPU ${g.serverCpuMsPerSecond ?? "—"} ms/s; ` +
      `Control calls ${calls.control}, registry calls ${calls.registry}` +
      (g.firstError ? ` (${g.firstError})` : ""),
  );

  await waitUntilQuiet([options.serverPid]);
  const quietAfter = await realRoomPhase(url, realRoom, options, options.quietMs);
  log(phaseLine("quiet after", quietAfter));

  const listed = (await (await fetch(`${url}/api/rooms?limit=1000`)).json()) as RoomsResponse;
  const floodNames = new Set(names);
  return {
    options,
    costs,
    realRoom,
    quietBefore,
    flooded,
    quietAfter,
    flood: generator,
    controlCalls: calls.control,
    registryCalls: calls.registry,
    floodRoomsListed: listed.rooms.filter((r) => floodNames.has(r.name)).length,
  };
}
