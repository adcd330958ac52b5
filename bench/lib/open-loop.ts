// An open-loop write load over a room's WebSockets: messages go out on a fixed schedule
// (one every 1000 / rate ms, round-robin over the sender sockets) whatever the answers do,
// so a slow room cannot slow the load down and hide its own queue (no coordinated
// omission). Latency runs from each message's scheduled send time to its arrival at every
// listener; a late send by this generator counts against the room too, and is reported.
import type { ServerFrame } from "../../src/shared/frames";
import { newMessageId } from "../../src/shared/message";
import { cpuWindow, FrameSocket, openAll } from "./socket-load";
import { countWithin, percentile, round } from "./stats";
import { sleep } from "./time";

export type OpenLoopOptions = {
  /** ws://…/api/rooms/<room>/ws */
  socketUrl: string;
  senders: number;
  listeners: number;
  /** offered messages per second */
  ratePerSecond: number;
  /** sent on schedule like the rest, left out of the latencies */
  warmupMs: number;
  /** measured time, after the warm-up */
  durationMs: number;
  /** how long after the last send a message may still arrive; later (or never) counts as missing */
  graceMs: number;
  /** wrangler's pid: server CPU per message over the measured window (Linux) */
  serverPid?: number;
};

/** Latency percentiles in ms; null where a percentile falls on a message that never arrived. */
export type TailLatency = {
  count: number;
  p50: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
};

export type OpenLoopResult = {
  ratePerSecond: number;
  /** messages scheduled in the measured window */
  scheduled: number;
  acked: number;
  nacks: number;
  /** (message, listener) pairs of the measured window that never arrived within the grace time */
  missing: number;
  /** scheduled send → arrival, every listener of every measured message */
  latencyMs: TailLatency;
  /** scheduled send → the last listener */
  lastListenerMs: TailLatency;
  /** how late this generator sent against its schedule (it shares the machine) */
  sendLagMs: TailLatency;
  serverCpuMsPerMessage: number | null;
  socketDrops: number;
  firstError?: string;
};

/** The send times of a schedule: `count` messages `1000 / rate` ms apart from `start`. */
export function schedule(start: number, ratePerSecond: number, count: number): number[] {
  const every = 1000 / ratePerSecond;
  return Array.from({ length: count }, (_, k) => start + k * every);
}

/**
 * Calls `send(k, now)` for every scheduled time (performance.now() ms) as it comes, whatever earlier
 * sends are doing: every send due by now goes out now, so a late wake-up sends a burst, never fewer.
 */
export async function sendOnSchedule(times: readonly number[], send: (k: number, now: number) => void): Promise<void> {
  for (let k = 0; k < times.length;) {
    const wait = times[k]! - performance.now();
    if (wait > 0) await sleep(wait);
    const now = performance.now();
    for (; k < times.length && times[k]! <= now; k++) send(k, now);
  }
}

/** Nearest-rank percentiles, a missing sample counted as slower than any that arrived. */
export function tailLatency(values: readonly number[], missing = 0): TailLatency {
  const sorted = [...values].sort((a, b) => a - b);
  const all = missing ? [...sorted, ...Array<number>(missing).fill(Number.POSITIVE_INFINITY)] : sorted;
  const at = (p: number) => {
    const v = percentile(all, p);
    return Number.isFinite(v) ? round(v, 2) : null;
  };
  return { count: all.length, p50: at(50), p99: at(99), p999: at(99.9), max: at(100) };
}

/** Never more than this many messages in one run, whatever rate and duration ask for. */
export const MAX_MESSAGES = 30_000;

type Sent = {
  scheduledAt: number;
  measured: boolean;
  arrivals: (number | undefined)[];
  /** the room's answer to the send, once it came */
  answer?: "ack" | "nack";
  /** when that answer came (performance.now()) */
  answeredAt?: number;
};

/** What one room's open-loop sockets saw: everything of OpenLoopResult the schedule and the server's CPU do not give. */
export type OpenLoopDelivery = Pick<
  OpenLoopResult,
  "scheduled" | "acked" | "nacks" | "missing" | "latencyMs" | "lastListenerMs" | "socketDrops" | "firstError"
>;

/**
 * One room's sender and listener sockets, open: `send` puts a message on the next sender's socket
 * (round-robin) and tracks its ack and its arrival at every listener. Several rooms can be driven
 * from one schedule loop, so they receive the same load at the same moments.
 */
export class OpenLoopRoom {
  private readonly sent = new Map<string, Sent>();
  /** (message, listener) pairs sent and not arrived yet */
  private awaited = 0;
  /** messages sent and neither acked nor nacked yet */
  private unanswered = 0;
  private nacks = 0;
  private socketDrops = 0;
  private firstError: string | undefined;
  private sockets: FrameSocket[] = [];
  private senders: FrameSocket[] = [];

  private constructor(private readonly listeners: number) {}

  static async open(socketUrl: string, senders: number, listeners: number): Promise<OpenLoopRoom> {
    const room = new OpenLoopRoom(listeners);
    const onDrop = (why: string) => {
      room.socketDrops++;
      room.firstError ??= why;
    };
    room.sockets = await openAll([
      ...Array.from({ length: listeners }, (_, i) => FrameSocket.open(socketUrl, room.listen(i), onDrop)),
      ...Array.from({ length: senders }, () => FrameSocket.open(socketUrl, room.answer, onDrop)),
    ]);
    room.senders = room.sockets.slice(listeners);
    return room;
  }

  private listen = (index: number) => (frame: ServerFrame, at: number) => {
    if (frame.type !== "message") return;
    const s = this.sent.get(frame.message.id);
    if (s && s.arrivals[index] === undefined) {
      s.arrivals[index] = at;
      this.awaited--;
    }
  };

  private answer = (frame: ServerFrame, at: number) => {
    if (frame.type !== "ack" && frame.type !== "nack") return;
    const s = this.sent.get(frame.id);
    if (!s || s.answer) return;
    s.answer = frame.type;
    s.answeredAt = at;
    this.unanswered--;
    if (frame.type === "nack") {
      this.nacks++;
      this.firstError ??= `nack ${frame.status}: ${frame.error}`;
    }
  };

  /** Message `k` of the schedule, due at `scheduledAt`; `measured` when it falls in the measured window. */
  send(k: number, scheduledAt: number, measured: boolean): void {
    const id = newMessageId();
    this.sent.set(id, {
      scheduledAt,
      measured,
      arrivals: Array<number | undefined>(this.listeners).fill(undefined),
    });
    this.awaited += this.listeners;
    this.unanswered++;
    const socket = this.senders[k % this.senders.length]!;
    if (!socket.dropped)
      socket.send({ type: "send", id, text: `open loop ${k}`, author: `bench-${k % this.senders.length}` });
  }

  /**
   * Waits until every message sent so far was answered and reached every listener, `graceMs` at most: a
   * sender's ack and the listeners' pushes travel on different sockets, so either may arrive last.
   */
  async settle(graceMs: number): Promise<void> {
    for (const deadline = performance.now() + graceMs; performance.now() < deadline;) {
      if (this.awaited === 0 && this.unanswered === 0) return;
      await sleep(20);
    }
  }

  close(): void {
    for (const socket of this.sockets) socket.close();
  }

  /** Messages (warm-up included) the room answered from `from` to `to` (performance.now()). */
  answeredBetween(from: number, to: number): number {
    return countWithin(
      Array.from(this.sent.values(), (s) => s.answeredAt),
      from,
      to,
    );
  }

  /** The measured messages: acks, nacks, arrivals and their latencies from the scheduled send. */
  delivery(): OpenLoopDelivery {
    const measured = [...this.sent.values()].filter((s) => s.measured);
    const latencies: number[] = [];
    const last: number[] = [];
    let missing = 0;
    let lastMissing = 0;
    for (const s of measured) {
      let slowest = 0;
      let complete = true;
      for (const at of s.arrivals) {
        if (at === undefined) {
          missing++;
          complete = false;
        } else {
          latencies.push(at - s.scheduledAt);
          slowest = Math.max(slowest, at - s.scheduledAt);
        }
      }
      if (complete) last.push(slowest);
      else lastMissing++;
    }
    return {
      scheduled: measured.length,
      acked: measured.filter((s) => s.answer === "ack").length,
      nacks: this.nacks,
      missing,
      latencyMs: tailLatency(latencies, missing),
      lastListenerMs: tailLatency(last, lastMissing),
      socketDrops: this.socketDrops,
      ...(this.firstError ? { firstError: this.firstError } : {}),
    };
  }
}

export async function openLoopLoad(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const room = await OpenLoopRoom.open(options.socketUrl, options.senders, options.listeners);
  const count = Math.min(
    MAX_MESSAGES,
    Math.ceil(((options.warmupMs + options.durationMs) / 1000) * options.ratePerSecond),
  );
  const start = performance.now() + 50;
  const times = schedule(start, options.ratePerSecond, count);
  const measureFrom = start + options.warmupMs;
  const cpu = cpuWindow(options.serverPid, measureFrom - performance.now(), options.durationMs);
  const lags: number[] = [];
  try {
    await sendOnSchedule(times, (k, now) => {
      const measured = times[k]! >= measureFrom;
      if (measured) lags.push(now - times[k]!);
      room.send(k, times[k]!, measured);
    });
    await room.settle(options.graceMs);
  } finally {
    room.close();
  }
  const delivery = room.delivery();
  const used = await cpu;
  return {
    ratePerSecond: options.ratePerSecond,
    ...delivery,
    sendLagMs: tailLatency(lags),
    serverCpuMsPerMessage:
      used.server === null || delivery.scheduled === 0 ? null : round(used.server / delivery.scheduled, 2),
  };
}
