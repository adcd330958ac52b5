// Fan-in: many rooms, each at about one message a second, and what reaches the shared
// objects (the Control object and the registry shards) meanwhile. N rooms for the main
// window with a flag change naming one room halfway, then 2N rooms at half the rate each
// (the same messages a second) for a second window, then a flip of the default that moves
// every room to kv. Calls are read from the objects' own
// counters (GET /api/admin/stats → usage) between the phases, so each phase's calls are its own.
import type { ClientFrame, ServerFrame } from "../../src/shared/frames";
import { REGISTRY_SHARDS, type Flags } from "../../src/shared/flags";
import { newMessageId } from "../../src/shared/message";
import type { UsageReport } from "../../src/shared/usage";
import { ChatClient } from "../lib/api";
import { round } from "../lib/stats";
import { now, sleep } from "../lib/time";

export type FanInOptions = { runTag: string; rooms: number; perRoomMs: number; durationMs: number };

/** Calls into the shared objects over one window, and the messages the rooms took meanwhile. */
export type FanInWindow = {
  rooms: number;
  seconds: number;
  messages: number;
  /** messages acknowledged per second over the window */
  perSecond: number;
  controlCalls: number;
  controlRowsWritten: number;
  registryCalls: number;
  /** the busiest registry shard's calls */
  busiestShardCalls: number;
  /** the busiest shared object's calls per second: Control or the busiest registry shard */
  busiestPerSecond: number;
  /** the local stand-in for Analytics Engine (never deployed): its calls, apart */
  localStatsCalls: number;
  /** the Control object restarted (was evicted) during the window: its calls count from the restart */
  controlRestarted: boolean;
  /** each registry shard's calls */
  shardCalls: number[];
};

export type FanInResult = {
  options: FanInOptions;
  shards: number;
  /** N rooms, whole main window (the flag change included) */
  main: FanInWindow;
  /** the same N rooms, before the flag change only */
  steady: FanInWindow;
  /** 2N rooms */
  doubled: FanInWindow;
  /** the flag change naming one room: calls it caused (its PUT included), and how many rooms called a shared object after it */
  oneRoomChange: {
    controlCalls: number;
    controlRowsWritten: number;
    registryCalls: number;
    controlCallsByRooms: number;
    registryCallsByRooms: number;
    flushedRooms: number;
  };
  /** the flip of the default to kv at the end */
  flip: {
    rooms: number;
    puts: number;
    seconds: number;
    controlCalls: number;
    registryCalls: number;
    busiestShardCalls: number;
  };
  /** message traffic only (both N-room windows around the flag change's PUT, and the 2N window), summed */
  traffic: {
    messages: number;
    controlCalls: number;
    controlRowsWritten: number;
    registryCalls: number;
    busiestShardCalls: number;
  };
  /** per message: over the traffic alone, and over the whole N-room window with the flag change's PUT */
  perMessage: {
    controlCalls: number;
    controlRowsWritten: number;
    controlCallsWithChange: number;
    controlRowsWithChange: number;
  };
  errors: { nacks: number; socketDrops: number; firstError?: string };
};

/** One room's socket: sends a message every `perRoomMs` (first at a random phase) and counts acks. */
class RoomSender {
  acked = 0;
  nacks = 0;
  dropped = false;
  firstError?: string;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  private constructor(
    readonly room: string,
    private readonly ws: WebSocket,
  ) {
    ws.addEventListener("message", (event) => {
      const frame = JSON.parse(String(event.data)) as ServerFrame;
      if (frame.type === "ack") this.acked++;
      if (frame.type === "nack") {
        this.nacks++;
        this.firstError ??= `${room}: nack ${frame.status} ${frame.error}`;
      }
    });
    ws.addEventListener("close", () => {
      if (!this.stopped) this.dropped = true;
    });
  }

  static async open(client: ChatClient, room: string): Promise<RoomSender> {
    const ws = new WebSocket(client.socketUrl(room));
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener("message", () => resolve(), { once: true });
      ws.addEventListener("error", () => reject(new Error(`socket to ${room} failed`)), { once: true });
    });
    return new RoomSender(room, ws);
  }

  send(text: string): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    const frame: ClientFrame = { type: "send", id: newMessageId(), text, author: "fan-in" };
    this.ws.send(JSON.stringify(frame));
  }

  /** A message every `every` ms from a random phase, until stop(). */
  start(every: number): void {
    let n = 0;
    const tick = () => {
      if (this.stopped) return;
      this.send(`message ${n++}`);
      this.timer = setTimeout(tick, every);
    };
    this.timer = setTimeout(tick, Math.random() * every);
  }

  pause(): void {
    clearTimeout(this.timer);
  }

  close(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ws.close(1000, "done");
  }
}

type Snapshot = { at: number; usage: UsageReport; acked: number };

async function snapshot(admin: ChatClient, senders: RoomSender[]): Promise<Snapshot> {
  const { usage } = await admin.stats();
  if (!usage) throw new Error("GET /api/admin/stats has no usage");
  return { at: now(), usage, acked: senders.reduce((n, s) => n + s.acked, 0) };
}

/**
 * Calls an object took between two snapshots. An object that restarted meanwhile (evicted
 * while idle: its counters are in memory) counts from its restart, which is all it took:
 * an idle object had taken none before it was evicted.
 */
export const took = (after: { since: number; requests: number }, before: { since: number; requests: number }) =>
  after.since === before.since ? after.requests - before.requests : after.requests;

function callsPerShard(a: Snapshot, b: Snapshot): number[] {
  const [before, after] = [a.usage.registry, b.usage.registry];
  return after.shardRequests.map((requests, i) =>
    took(
      { since: after.shardSince[i]!, requests },
      { since: before.shardSince[i]!, requests: before.shardRequests[i]! },
    ),
  );
}

function window(rooms: number, a: Snapshot, b: Snapshot): FanInWindow {
  const seconds = (b.at - a.at) / 1000;
  const messages = b.acked - a.acked;
  const controlCalls = took(b.usage.control, a.usage.control);
  const controlRestarted = b.usage.control.since !== a.usage.control.since;
  const shardCalls = callsPerShard(a, b);
  return {
    rooms,
    seconds: round(seconds, 1)!,
    messages,
    perSecond: round(messages / seconds, 1)!,
    controlCalls,
    controlRowsWritten: controlRestarted
      ? b.usage.control.sqlRowsWritten
      : b.usage.control.sqlRowsWritten - a.usage.control.sqlRowsWritten,
    registryCalls: shardCalls.reduce((n, c) => n + c, 0),
    busiestShardCalls: Math.max(...shardCalls),
    busiestPerSecond: round(Math.max(controlCalls, ...shardCalls) / seconds, 3)!,
    localStatsCalls: (b.usage.localStats?.requests ?? 0) - (a.usage.localStats?.requests ?? 0),
    controlRestarted,
    shardCalls,
  };
}

/**
 * Back-to-back windows as one. Summed rather than measured end to end: an object evicted
 * while idle restarts its counters, so a long window would lose the calls it took before
 * (the flag change's, in the N-room window); short windows around each change keep them.
 */
function joined(parts: FanInWindow[]): FanInWindow {
  const sum = (pick: (w: FanInWindow) => number) => parts.reduce((n, w) => n + pick(w), 0);
  const shardCalls = parts[0]!.shardCalls.map((_, i) => sum((w) => w.shardCalls[i] ?? 0));
  const seconds = sum((w) => w.seconds);
  const controlCalls = sum((w) => w.controlCalls);
  return {
    rooms: parts[0]!.rooms,
    seconds: round(seconds, 1)!,
    messages: sum((w) => w.messages),
    perSecond: round(sum((w) => w.messages) / seconds, 1)!,
    controlCalls,
    controlRowsWritten: sum((w) => w.controlRowsWritten),
    registryCalls: sum((w) => w.registryCalls),
    busiestShardCalls: Math.max(...shardCalls),
    busiestPerSecond: round(Math.max(controlCalls, ...shardCalls) / seconds, 3)!,
    localStatsCalls: sum((w) => w.localStatsCalls),
    controlRestarted: parts.some((w) => w.controlRestarted),
    shardCalls,
  };
}

/** PUTs the flag until the flip is done (202: the same PUT again); answers how many PUTs it took. */
async function putUntilDone(admin: ChatClient, flags: Flags): Promise<{ puts: number; flushed: number }> {
  let flushed = 0;
  for (let puts = 1; puts <= 1_000; puts++) {
    const { status, body } = await admin.putFlagsStep(flags);
    flushed += body.flushed.length;
    if (status === 200) return { puts, flushed };
  }
  throw new Error("the flip did not finish in 1,000 PUTs");
}

export async function fanInBench(
  url: string,
  adminToken: string,
  options: FanInOptions,
  log: (line: string) => void,
): Promise<FanInResult> {
  const admin = new ChatClient(url, { admin: adminToken });
  const client = new ChatClient(url);
  const base: Flags = { defaultMode: "do", doPercent: 0, rooms: {} };
  await putUntilDone(admin, base);
  const names = Array.from({ length: options.rooms * 2 }, (_, i) => `bench-${options.runTag}-fan-${i}`);
  const senders: RoomSender[] = [];
  const openRooms = async (rooms: string[]) => {
    for (let i = 0; i < rooms.length; i += 50)
      senders.push(...(await Promise.all(rooms.slice(i, i + 50).map((room) => RoomSender.open(client, room)))));
    // Each room's first message registers it with its shard: once per room, before the window.
    for (const sender of senders.slice(-rooms.length)) sender.send("first message");
    await sleep(2_000);
  };
  try {
    log(`  opening ${options.rooms} rooms (one socket each) and sending each its first message…`);
    await openRooms(names.slice(0, options.rooms));
    for (const sender of senders) sender.start(options.perRoomMs);
    await sleep(options.perRoomMs);
    const start = await snapshot(admin, senders);
    await sleep(options.durationMs / 2);
    const beforeChange = await snapshot(admin, senders);
    const moved = names[0]!;
    const { flushed: flushedRooms } = await putUntilDone(admin, { ...base, rooms: { [moved]: "kv" } });
    senders[0]!.pause(); // the room is a kv room now: its socket takes no sends
    const afterPut = await snapshot(admin, senders);
    await sleep(options.durationMs / 2);
    const end = await snapshot(admin, senders);
    const steady = window(options.rooms, start, beforeChange);
    const change = window(options.rooms, beforeChange, afterPut);
    const afterChange = window(options.rooms, afterPut, end);
    const main = joined([steady, change, afterChange]);
    log(
      `  ${options.rooms} rooms, ${main.seconds} s: ${main.messages} messages (${main.perSecond}/s); Control calls ${main.controlCalls}, registry calls ${main.registryCalls}`,
    );

    // Twice the rooms at half the rate each: the same messages a second, so the one local
    // workerd thread (which carries a few hundred a second) is not what is measured.
    log(`  opening ${options.rooms} more rooms; every room now sends every ${(options.perRoomMs * 2) / 1000} s…`);
    for (const sender of senders) sender.pause();
    await openRooms(names.slice(options.rooms));
    for (const sender of senders.slice(1)) sender.start(options.perRoomMs * 2);
    await sleep(options.perRoomMs * 2);
    const doubledStart = await snapshot(admin, senders);
    await sleep(options.durationMs / 2);
    const doubledEnd = await snapshot(admin, senders);
    const doubled = window(options.rooms * 2, doubledStart, doubledEnd);
    log(
      `  ${doubled.rooms} rooms, ${doubled.seconds} s: ${doubled.messages} messages (${doubled.perSecond}/s); Control calls ${doubled.controlCalls}, registry calls ${doubled.registryCalls}`,
    );

    for (const sender of senders) sender.pause();
    await sleep(1_000);
    const beforeFlip = await snapshot(admin, senders);
    const flipStarted = now();
    const flipped = await putUntilDone(admin, { ...base, defaultMode: "kv", rooms: {} });
    const afterFlip = await snapshot(admin, senders);
    const shardCalls = callsPerShard(beforeFlip, afterFlip);
    const flip = {
      rooms: flipped.flushed,
      puts: flipped.puts,
      seconds: round((now() - flipStarted) / 1000, 1)!,
      controlCalls: took(afterFlip.usage.control, beforeFlip.usage.control),
      registryCalls: shardCalls.reduce((n, c) => n + c, 0),
      busiestShardCalls: Math.max(...shardCalls),
    };
    log(
      `  flip of the default to kv: ${flip.rooms} rooms flushed in ${flip.puts} PUT(s), ${flip.seconds} s; Control calls ${flip.controlCalls}, registry calls ${flip.registryCalls}`,
    );
    const firstError = senders.find((s) => s.firstError)?.firstError;
    const windows = [steady, afterChange, doubled];
    const sum = (pick: (w: FanInWindow) => number) => windows.reduce((n, w) => n + pick(w), 0);
    const traffic = {
      messages: sum((w) => w.messages),
      controlCalls: sum((w) => w.controlCalls),
      controlRowsWritten: sum((w) => w.controlRowsWritten),
      registryCalls: sum((w) => w.registryCalls),
      busiestShardCalls: Math.max(...windows.map((w) => w.busiestShardCalls)),
    };
    const per = (n: number, messages: number) => (messages ? n / messages : 0);
    return {
      options,
      shards: REGISTRY_SHARDS,
      main,
      steady,
      doubled,
      oneRoomChange: {
        controlCalls: change.controlCalls,
        controlRowsWritten: change.controlRowsWritten,
        registryCalls: change.registryCalls,
        controlCallsByRooms: afterChange.controlCalls,
        registryCallsByRooms: afterChange.registryCalls,
        flushedRooms,
      },
      flip,
      traffic,
      perMessage: {
        controlCalls: per(traffic.controlCalls, traffic.messages),
        controlRowsWritten: per(traffic.controlRowsWritten, traffic.messages),
        controlCallsWithChange: per(main.controlCalls, main.messages),
        controlRowsWithChange: per(main.controlRowsWritten, main.messages),
      },
      errors: {
        nacks: senders.reduce((n, s) => n + s.nacks, 0),
        socketDrops: senders.filter((s) => s.dropped).length,
        ...(firstError ? { firstError } : {}),
      },
    };
  } finally {
    for (const sender of senders) sender.close();
  }
}
