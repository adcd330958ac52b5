// A closed-loop write load over a room's WebSockets, in the frame protocol of
// src/shared/frames.ts: `senders` sockets each send one message, wait until it has
// reached every one of `listeners` other sockets, then send the next. It measures
// send → visible at the last listener (and per listener), and counts everything that
// is not a clean delivery: nacks, sends never answered, messages a listener never got.
// Raw sockets, no reconnect: a dropped socket during a run is an error, not a retry.
import type { ClientFrame, ServerFrame } from "../../src/shared/frames";
import { newMessageId, type PathMode } from "../../src/shared/message";
import { runtimeCpuMs } from "./proc-cpu";
import { round, summarize, type Percentiles } from "./stats";
import { sleep } from "./time";

export type SocketLoadOptions = {
  /** ws://…/api/rooms/<room>/ws */
  socketUrl: string;
  senders: number;
  listeners: number;
  /** measured time, after the warm-up */
  durationMs: number;
  /** sent and checked like the rest, left out of rates and latencies */
  warmupMs: number;
  /** a sender gives up waiting for its message after this long and sends the next */
  waitMs: number;
  /** wrangler's pid: server CPU per message over the measured window (Linux) */
  serverPid?: number;
};

export type SocketLoadResult = {
  /** the room's path as its hello said */
  mode: PathMode | null;
  sent: number;
  acked: number;
  /** messages visible at every listener per second, in the measured window */
  perSecond: number;
  seconds: number;
  /** send → the last listener received it, messages sent in the measured window */
  visibleMs: Percentiles;
  /** send → received, p99 at each listener */
  perListenerP99Ms: number[];
  /** send → ack at the sender */
  ackMs: Percentiles;
  /**
   * CPU per message over the measured window: the Worker's runtime (workerd), and this load
   * generator (which shares the machine: on 2 cores it is part of the ceiling)
   */
  serverCpuMsPerMessage: number | null;
  clientCpuMsPerMessage: number;
  /** acked messages some listener never received (after a grace period) */
  missing: number;
  errors: {
    nacks: number;
    nackStatuses: Record<string, number>;
    timeouts: number;
    unacked: number;
    socketDrops: number;
    total: number;
  };
  firstError?: string;
};

type Track = {
  sentAt: number;
  measured: boolean;
  seenBy: Uint8Array;
  seen: number;
  ackedAt?: number;
  nacked?: boolean;
  /** resolves the sender's wait: visible everywhere, or refused */
  settle?: () => void;
};

/** A frame from the room, or null for anything that is not one. */
function readFrame(data: unknown): ServerFrame | null {
  if (typeof data !== "string") return null;
  try {
    return JSON.parse(data) as ServerFrame;
  } catch {
    return null;
  }
}

/** One socket that sends and receives frames; opens once the room said hello. */
export class FrameSocket {
  dropped = false;
  mode: PathMode | null = null;
  private constructor(private readonly ws: WebSocket) {}

  static open(
    url: string,
    onFrame: (frame: ServerFrame, at: number) => void,
    onDrop: (why: string) => void,
    timeoutMs = 10_000,
  ): Promise<FrameSocket> {
    return new Promise((resolve, reject) => {
      const socket = new FrameSocket(new WebSocket(url));
      const timer = setTimeout(() => fail(`no hello within ${timeoutMs} ms`), timeoutMs);
      let opened = false;
      function fail(why: string) {
        clearTimeout(timer);
        socket.ws.close();
        reject(new Error(`socket ${url}: ${why}`));
      }
      socket.ws.onmessage = (event) => {
        const at = performance.now();
        const frame = readFrame(event.data);
        if (!frame) return;
        if (frame.type === "hello" && !opened) {
          opened = true;
          socket.mode = frame.mode ?? null;
          clearTimeout(timer);
          resolve(socket);
        }
        onFrame(frame, at);
      };
      socket.ws.onclose = (event) => {
        if (!opened) return fail(`closed before hello (${event.code})`);
        if (socket.dropped) return;
        socket.dropped = true;
        onDrop(`a socket closed during the run (${event.code} ${event.reason})`);
      };
      socket.ws.onerror = () => undefined; // a close follows
    });
  }

  send(frame: ClientFrame): void {
    this.ws.send(JSON.stringify(frame));
  }

  close(): void {
    this.dropped = true; // ours: not an error
    this.ws.close();
  }
}

export async function socketLoad(
  options: SocketLoadOptions,
): Promise<{ result: SocketLoadResult; ackedIds: string[] }> {
  const tracks = new Map<string, Track>();
  /** when a message had reached its last listener */
  const visibleAt = new Map<string, number>();
  const perListener: number[][] = Array.from({ length: options.listeners }, () => []);
  const errors: SocketLoadResult["errors"] = {
    nacks: 0,
    nackStatuses: {},
    timeouts: 0,
    unacked: 0,
    socketDrops: 0,
    total: 0,
  };
  let firstError: string | undefined;
  const noteError = (why: string) => (firstError ??= why);
  const onDrop = (why: string) => {
    errors.socketDrops++;
    noteError(why);
  };

  const listen = (index: number) => (frame: ServerFrame, at: number) => {
    if (frame.type !== "message") return;
    const track = tracks.get(frame.message.id);
    if (!track || track.seenBy[index]) return;
    track.seenBy[index] = 1;
    track.seen++;
    if (track.measured) perListener[index]!.push(at - track.sentAt);
    if (track.seen === options.listeners) {
      visibleAt.set(frame.message.id, at);
      track.settle?.();
    }
  };
  // The sender's own socket: its acks and nacks (the broadcast copy is not a listener's).
  const answer = (frame: ServerFrame, at: number) => {
    if (frame.type !== "ack" && frame.type !== "nack") return;
    const track = tracks.get(frame.id);
    if (!track || track.ackedAt !== undefined || track.nacked) return;
    if (frame.type === "ack") track.ackedAt = at;
    else {
      track.nacked = true;
      errors.nacks++;
      errors.nackStatuses[frame.status] = (errors.nackStatuses[frame.status] ?? 0) + 1;
      noteError(`nack ${frame.status}: ${frame.error}${frame.mode ? ` (mode ${frame.mode})` : ""}`);
      track.settle?.();
    }
  };

  const sockets = await openAll([
    ...Array.from({ length: options.listeners }, (_, i) => FrameSocket.open(options.socketUrl, listen(i), onDrop)),
    ...Array.from({ length: options.senders }, () => FrameSocket.open(options.socketUrl, answer, onDrop)),
  ]);
  const listeners = sockets.slice(0, options.listeners);
  const senders = sockets.slice(options.listeners);
  const started = performance.now();
  const measureFrom = started + options.warmupMs;
  const end = measureFrom + options.durationMs;
  const cpu = cpuWindow(options.serverPid, options.warmupMs, options.durationMs);

  const sendLoop = async (socket: FrameSocket, index: number) => {
    for (let n = 0; performance.now() < end && !socket.dropped; n++) {
      const id = newMessageId();
      const sentAt = performance.now();
      const track: Track = {
        sentAt,
        measured: sentAt >= measureFrom,
        seenBy: new Uint8Array(options.listeners),
        seen: 0,
      };
      tracks.set(id, track);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const settled = await new Promise<boolean>((resolve) => {
        track.settle = () => resolve(true);
        timer = setTimeout(() => resolve(false), options.waitMs);
        socket.send({ type: "send", id, text: `socket write ${index}.${n}`, author: `bench-${index}` });
      });
      clearTimeout(timer);
      track.settle = undefined;
      if (!settled) {
        errors.timeouts++;
        noteError(`a message was not visible at all ${options.listeners} listeners within ${options.waitMs} ms`);
      }
    }
  };
  await Promise.all(senders.map(sendLoop));

  // Late acks and deliveries still count for the checks (bounded wait).
  const settledAll = () =>
    [...tracks.values()].every((t) => t.nacked || (t.ackedAt !== undefined && t.seen === options.listeners));
  for (const deadline = performance.now() + 5_000; !settledAll() && performance.now() < deadline;) await sleep(100);
  for (const socket of sockets) socket.close();

  const all = [...tracks.entries()];
  const acked = all.filter(([, t]) => t.ackedAt !== undefined);
  const missing = acked.filter(([, t]) => t.seen < options.listeners).length;
  errors.unacked = all.filter(([, t]) => t.ackedAt === undefined && !t.nacked).length;
  if (errors.unacked) noteError(`${errors.unacked} sends were never acked nor nacked`);
  errors.total = errors.nacks + errors.timeouts + errors.unacked + errors.socketDrops;
  const measured = all.filter(([, t]) => t.measured);
  const completedInWindow = [...visibleAt.values()].filter((at) => at >= measureFrom && at <= end).length;
  const seconds = options.durationMs / 1000;
  const used = await cpu;
  const perMessage = (cpuMs: number | null) =>
    cpuMs === null || completedInWindow === 0 ? null : round(cpuMs / completedInWindow, 2);
  const result: SocketLoadResult = {
    mode: listeners[0]?.mode ?? null,
    sent: all.length,
    acked: acked.length,
    perSecond: completedInWindow / seconds,
    seconds,
    visibleMs: summarize(measured.flatMap(([id, t]) => (visibleAt.has(id) ? [visibleAt.get(id)! - t.sentAt] : []))),
    perListenerP99Ms: perListener.map((values) => summarize(values).p99),
    ackMs: summarize(measured.flatMap(([, t]) => (t.ackedAt === undefined ? [] : [t.ackedAt - t.sentAt]))),
    serverCpuMsPerMessage: perMessage(used.server),
    clientCpuMsPerMessage: perMessage(used.client) ?? Number.NaN,
    missing,
    errors,
    ...(firstError ? { firstError } : {}),
  };
  return { result, ackedIds: acked.map(([id]) => id) };
}

/** All sockets open, or none: the ones that did open are closed again before the error. */
export async function openAll(opening: Promise<FrameSocket>[]): Promise<FrameSocket[]> {
  const settled = await Promise.allSettled(opening);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  const opened = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  if (!failed) return opened;
  for (const socket of opened) socket.close();
  throw failed.reason;
}

/** CPU used from `fromMs` to `fromMs + durationMs` from now: by the server's runtime, and by this process. */
export async function cpuWindow(
  serverPid: number | undefined,
  fromMs: number,
  durationMs: number,
): Promise<{ server: number | null; client: number }> {
  await sleep(fromMs);
  const server = runtimeCpuMs(serverPid);
  const client = process.cpuUsage();
  await sleep(durationMs);
  const serverAfter = runtimeCpuMs(serverPid);
  const clientUsed = process.cpuUsage(client);
  return {
    server: server === null || serverAfter === null ? null : serverAfter - server,
    client: (clientUsed.user + clientUsed.system) / 1000,
  };
}
