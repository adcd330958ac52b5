// One soak: start the Worker, the writers and the bots; post for the run's length while
// the chaos plan kills the Worker and the bots and the flipper moves rooms between kv
// and do; let verification settle; stop everyone; read every room; audit; report.
import { writeFileSync } from "node:fs";
import type { PathMode, Message } from "../../src/shared/message";
import { checkHistory, type CheckReport } from "../check/checker";
import { HistoryRecorder } from "../check/recorder";
import { ChatClient } from "../lib/api";
import { cadenceFor } from "../lib/tab";
import { now, sleep, waitFor } from "../lib/time";
import { audit, type AckedMessage, type DoubleAnswer, type ReplyLink } from "./audit";
import { SoakBots } from "./bots";
import { planChaos, runChaos } from "./chaos";
import { FailureTally } from "./failures";
import { Flipper } from "./flipper";
import { ModeBook } from "./modes";
import type { SoakOptions } from "./options";
import { readRooms, type RoomContents } from "./read-rooms";
import { SoakReaders } from "./readers";
import { doFailures, historyFailures, modeReport } from "./report";
import type { SoakReport } from "./report-schema";
import { SoakServer } from "./server";
import { Writers } from "./writers";

/** Posts still on their way when posting stops get this long for their answer. */
const LAST_ANSWERS_MS = 60_000;
/** Beyond its planned length, the posting phase stops anyway after this (a very slow machine). */
const OVERRUN_MS = 120_000;
const PROGRESS_EVERY_MS = 30_000;
/** The readers poll every room this often (jittered up to 1.4×): a few seconds, as the page. */
const READER_POLL_MS = 3_000;

export async function runSoak(options: SoakOptions, log: (line: string) => void, command: string): Promise<SoakReport> {
  const started = now();
  const durationMs = options.minutes * 60_000;
  const runTag = Date.now().toString(36);
  const rooms = Array.from({ length: options.rooms }, (_, i) => `soak-${runTag}-${i + 1}`);
  const book = new ModeBook();
  const failures = new FailureTally(book);

  log(`Starting a local Worker (wrangler dev, its own state directory, claim lease ${options.claimLeaseS} s)…`);
  const server = await SoakServer.start({ CLAIM_LEASE_MS: String(options.claimLeaseS * 1000) });
  log(`Local Worker at ${server.url}`);
  let writers: Writers | null = null;
  let bots: SoakBots | null = null;
  let flipper: Flipper | null = null;
  let readers: SoakReaders | null = null;
  // Every send, heal and read of the run, for the history checker.
  const recorder = new HistoryRecorder(now);
  try {
    const admin = new ChatClient(server.url, { admin: server.adminToken });
    // Every other room starts in do mode: half and half.
    for (const [i, room] of rooms.entries()) {
      const mode: PathMode = i % 2 === 0 ? "do" : "kv";
      await admin.setRoomMode(room, mode);
      book.set(room, mode);
    }
    writers = new Writers({
      url: server.url,
      rooms,
      writers: options.writers,
      posts: options.posts,
      durationMs,
      cadence: cadenceFor(options.pollMs),
      failures,
      recorder,
    });
    await writers.open();
    readers = new SoakReaders({ url: server.url, rooms, recorder, pollMs: READER_POLL_MS });
    readers.start();
    if (options.bots > 0) {
      bots = new SoakBots({
        url: server.url,
        botToken: server.botToken,
        rooms,
        count: options.bots,
        pollMs: Math.min(3_000, options.pollMs),
        generationMs: options.generationMs,
        failures,
        recorder,
      });
    }
    flipper = options.flipEveryS > 0 ? new Flipper(admin, book, server, options.flipEveryS * 1000) : null;

    log(
      `Posting ${options.posts.toLocaleString("en-US")} messages from ${options.writers} writers into ${options.rooms} rooms over ${options.minutes} min, with chaos:`,
    );
    const phaseStart = now();
    const chaosStopper = new AbortController();
    flipper?.start();
    // A Worker that cannot be started again ends the run: posting stops, the error is thrown below.
    let chaosError: unknown = null;
    const chaos = runChaos(
      planChaos(durationMs, options.serverKills, options.botKills),
      phaseStart,
      { server, bots, flipper },
      chaosStopper.signal,
      log,
    ).catch((err: unknown) => {
      chaosError = err;
      writers!.stopPosting();
    });
    const progress = setInterval(
      () => log(`  ${progressLine(phaseStart, writers!, bots, flipper, server)}`),
      PROGRESS_EVERY_MS,
    );
    const posting = writers.post();
    try {
      const finished = await Promise.race([posting.then(() => true), sleep(durationMs + OVERRUN_MS).then(() => false)]);
      if (!finished) log("  posting overran its time by 2 minutes: stopping it");
      writers.stopPosting();
      await Promise.race([posting, sleep(LAST_ANSWERS_MS)]);
      chaosStopper.abort();
      await chaos;
      if (chaosError) throw chaosError;
      await flipper?.stop();
    } finally {
      clearInterval(progress);
    }
    log(`  ${progressLine(phaseStart, writers, bots, flipper, server)}; posting and chaos over`);

    // Everyone comes back up and checks what they are waiting for, as pages and bots would.
    await server.whenUp();
    for (const crash of bots?.restartCrashed() ?? [])
      log(`  ${crash.botId} had exited by itself (${crash.exitCode}); restarted`);
    const settleStart = now();
    const unverifiedAi = () => bots?.unverifiedBefore(settleStart) ?? 0;
    const complete = await waitFor(
      () => writers!.unverified === 0 && unverifiedAi() === 0,
      settleStart + options.settleS * 1000,
      250,
    );
    const settle = {
      seconds: round1((now() - settleStart) / 1000),
      complete,
      unverifiedHuman: writers.unverified,
      unverifiedAi: unverifiedAi(),
    };
    log(
      `Settled in ${settle.seconds} s${complete ? "" : ` (not complete: ${settle.unverifiedHuman} human, ${settle.unverifiedAi} AI still unverified)`}; stopping writers and bots, reading every room…`,
    );
    writers.stop();
    // A bot that died during the settle is recorded (its restart is stopped at once).
    bots?.restartCrashed();
    await bots?.stop();
    await readers.finish();
    const contents = await readRooms(admin, book);
    recordAudit(recorder, contents);
    const history = recorder.history();
    const checked = checkHistory(history);
    if (options.history) {
      writeFileSync(options.history, JSON.stringify(history));
      const n = (x: number) => x.toLocaleString("en-US");
      const sizes = `${n(history.ops.length)} ops, ${n(history.observations.length)} reads`;
      log(`Wrote the history (${sizes}) to ${options.history}`);
    }

    const finished = { options, command, started, phaseStart, settle, book, failures, writers, bots, flipper, server };
    return buildReport({ ...finished, contents, checked });
  } finally {
    readers?.stop();
    writers?.stop();
    await flipper?.stop();
    await bots?.stop();
    await server.stop();
  }
}

type Finished = {
  options: SoakOptions;
  command: string;
  started: number;
  phaseStart: number;
  settle: SoakReport["settle"];
  book: ModeBook;
  failures: FailureTally;
  writers: Writers;
  bots: SoakBots | null;
  flipper: Flipper | null;
  server: SoakServer;
  contents: RoomContents[];
  checked: CheckReport;
};

/** The audit's reads are the last observations: a kv room's final list, every room's whole log in change order. */
function recordAudit(recorder: HistoryRecorder, contents: RoomContents[]): void {
  for (const room of contents) {
    if (room.kvList) recorder.observe("audit", room.room, room.kvList, { mode: "kv", kind: "list" });
    recorder.observe("audit", room.room, room.log, { mode: "do", kind: "changes", complete: true });
  }
}

function buildReport(run: Finished): SoakReport {
  const { book, writers, bots, contents } = run;
  const posted = writers.messages;
  const inRooms = new Map(contents.flatMap((room) => [...(room.kvList ?? []), ...room.log]).map((m) => [m.id, m]));
  const acked: AckedMessage[] = posted
    .filter((m) => m.ackedAt !== undefined)
    .map((m) => ({
      id: m.id,
      room: m.room,
      kind: "human",
      mode: m.mode ?? book.modeAt(m.room, m.ackedAt!),
      createdAt: m.createdAt,
      ackedAt: m.ackedAt!,
      firstCheck: m.firstCheck,
      healsReadded: m.healsReadded,
    }));
  const replies: ReplyLink[] = [];
  for (const reply of bots?.acked.values() ?? []) {
    const record = bots!.log.replies.get(reply.id);
    const mode = reply.mode ?? book.modeAt(reply.room, reply.at);
    const createdAt = inRooms.get(reply.id)?.createdAt ?? writers.seen.createdAt.get(reply.id) ?? reply.at;
    acked.push({
      id: reply.id,
      room: reply.room,
      kind: "ai",
      mode,
      createdAt,
      ackedAt: reply.at,
      firstCheck: record?.firstCheck,
      healsReadded: record?.healsReadded ?? 0,
    });
    replies.push({ id: reply.id, replyTo: reply.replyTo, room: reply.room, mode, createdAt });
  }
  const seenByBot = (id: string) => {
    const record = bots?.log.replies.get(id);
    return record !== undefined && record.verifiedAt !== undefined && !record.agedOut;
  };
  const audited = audit({
    acked,
    rooms: contents,
    book,
    seen: (id) => writers.sawMessage(id) || seenByBot(id),
    duplicatesSeen: writers.seen.duplicateIds,
    replies,
  });
  const modes = {
    do: modeReport(audited.do, { writers: run.failures.counts.writers.do, bots: run.failures.counts.bots.do }),
    kv: modeReport(audited.kv, { writers: run.failures.counts.writers.kv, bots: run.failures.counts.bots.kv }),
  };

  const at = (t: number) => round1((t - run.phaseStart) / 1000);
  const flips = run.flipper?.flips ?? [];
  const notes = [...chaosNotes(run), ...doubleAnswerNotes(audited.kv.answeredTwice)];
  const failures = [...doFailures(modes.do), ...historyFailures(run.checked.modes.do)];
  return {
    kind: "soak",
    command: run.command,
    generatedAt: new Date().toISOString(),
    durationSeconds: round1((now() - run.started) / 1000),
    options: withoutJson(run.options),
    chaos: {
      serverKills: run.server.kills.map((k) => ({
        atS: at(k.at),
        downS: round1(k.downMs / 1000),
        duringFlip: k.duringFlip,
      })),
      botKills: (bots?.kills ?? []).map((k) => ({
        atS: at(k.at),
        botId: k.botId,
        generatingFor: k.generatingFor,
        intoGenerationMs: k.intoGenerationMs,
        midGeneration: k.midGeneration,
        // The message whose reply the kill cut off: answered later (once), after the claim ran out?
        repliesAfter: k.generatingFor ? repliesTo(k.generatingFor, replies, inRooms) : 0,
      })),
      botCrashes: (bots?.crashes ?? []).map((c) => ({ atS: at(c.at), botId: c.botId, exitCode: c.exitCode })),
      flips: {
        total: flips.length,
        toDo: flips.filter((f) => f.to === "do").length,
        toKv: flips.filter((f) => f.to === "kv").length,
        failedPuts: run.flipper?.failures ?? 0,
        auditFlips: contents.filter((room) => room.auditFlipAt !== null).length,
      },
      flipLog: flips.map((f) => ({ atS: at(f.at), room: f.room, to: f.to })),
    },
    posts: {
      attempted: posted.length,
      acknowledged: posted.filter((m) => m.ackedAt !== undefined).length,
      unacknowledged: posted.filter((m) => m.ackedAt === undefined).length,
      viaSocket: posted.filter((m) => m.via === "socket").length,
      viaHttp: posted.filter((m) => m.via === "http").length,
      aiReplies: bots?.acked.size ?? 0,
    },
    settle: run.settle,
    modes,
    history: run.checked,
    rooms: contents.map((room) => ({
      room: room.room,
      finalMode: room.finalMode,
      flips: flips.filter((f) => f.room === room.room).length,
      logSize: room.log.length,
      kvListSize: room.kvList?.length ?? null,
    })),
    failures,
    notes,
    ok: failures.length === 0,
  };
}

/** Distinct replies to one human message, reported by a bot or standing in a room. */
function repliesTo(humanId: string, replies: ReplyLink[], inRooms: Map<string, Message>): number {
  const ids = new Set(replies.filter((r) => r.replyTo === humanId).map((r) => r.id));
  for (const m of inRooms.values()) if (m.replyTo === humanId) ids.add(m.id);
  return ids.size;
}

/** The options as they shape the run (where the JSON and the history went is not a result). */
function withoutJson(options: SoakOptions): SoakReport["options"] {
  const { json: _json, history: _history, ...rest } = options;
  return rest;
}

/**
 * kv double answers one of whose replies a do room acknowledged: the message was answered
 * while its room was in kv mode, that reply never reached the do room's log (or only
 * later), and the room, back in do mode, took another. Said apart from kv's own.
 */
function doubleAnswerNotes(doubles: DoubleAnswer[]): string[] {
  const withDo = doubles.filter((d) => d.replies.some((r) => r.mode === "do")).length;
  if (!withDo) return [];
  return [
    `${withDo} of the ${doubles.length} kv double answer(s) had one reply acknowledged by a do room: the message was answered while its room was in kv mode, and the room, back in do mode and without that reply in its log, took another`,
  ];
}

/** What the chaos fell short of, said plainly. */
function chaosNotes(run: Finished): string[] {
  const notes: string[] = [];
  const { options, bots } = run;
  if (run.server.kills.length < options.serverKills)
    notes.push(`the Worker was killed ${run.server.kills.length} time(s), not ${options.serverKills}`);
  const kills = bots?.kills ?? [];
  if (kills.length < options.botKills) notes.push(`bots were killed ${kills.length} time(s), not ${options.botKills}`);
  const notMid = kills.filter((k) => !k.midGeneration).length;
  if (notMid) notes.push(`${notMid} bot kill(s) did not land mid-generation`);
  if (bots?.crashes.length) notes.push(`bots exited by themselves ${bots.crashes.length} time(s) (restarted)`);
  if (!run.settle.complete)
    notes.push(
      `verification had not settled after ${options.settleS} s: ${run.settle.unverifiedHuman} human and ${run.settle.unverifiedAi} AI messages still unverified by their senders`,
    );
  return notes;
}

function progressLine(
  phaseStart: number,
  writers: Writers,
  bots: SoakBots | null,
  flipper: Flipper | null,
  server: SoakServer,
): string {
  const posted = writers.messages;
  const acked = posted.filter((m) => m.ackedAt !== undefined).length;
  return (
    `${Math.round((now() - phaseStart) / 1000)} s: ${acked.toLocaleString("en-US")} posts acknowledged (${writers.unverified} unverified), ` +
    `${bots?.acked.size ?? 0} AI replies, ${flipper?.flips.length ?? 0} flips, ${server.kills.length} Worker kill(s), ${bots?.kills.length ?? 0} bot kill(s)`
  );
}

const round1 = (x: number) => Math.round(x * 10) / 10;
