// The soak's bots: the real bot (bench/soak/slow-bot.ts runs bot/main.ts --offline with
// slowed generation), each in a process group of its own so it can be killed mid-
// generation with SIGKILL and started again under the same bot id and state file, as
// a crashed bot is restarted: it resumes verifying its replies, and after its claim's
// lease runs out the message it was generating for is answered again.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PathMode } from "../../src/shared/message";
import type { HistoryRecorder, Invoked } from "../check/recorder";
import { BotLog, BotProcess } from "../lib/bot-process";
import { isFinalRefusal } from "../lib/tab";
import { now } from "../lib/time";
import type { FailureTally } from "./failures";

const SLOW_BOT = join(import.meta.dirname, "slow-bot.ts");

const GENERATING = /^\[Soak\] generating (\S+)/;
const REPLY_ACKED = /^\[Soak\] reply (\S+) to (\S+) in (\S+) acknowledged: \d+ mode=(\S+)/;
const SERVER_ERROR = /^\[Soak\] (\d+): \S+ \S+ room=(\S+) mode=(\S+)/;
const NO_ANSWER = /^\[Soak\] no answer: \S+ \S+ room=(\S+)/;
const REPLY_SENDING = /^\[Soak\] sending reply (\S+) to (\S+) in (\S+)/;
const REPLY_ANSWERED = /^\[Soak\] reply (\S+) answered (\d+) mode=(\S+)/;

export type BotSettings = {
  url: string;
  botToken: string;
  rooms: string[];
  count: number;
  pollMs: number;
  generationMs: number;
  failures: FailureTally;
  /** records every reply post as an operation of the run's history */
  recorder?: HistoryRecorder;
};

/** A reply the Worker acknowledged (2xx to the bot's POST), by the mode that acknowledged it. */
export type AckedReply = { id: string; replyTo: string; room: string; mode: PathMode | null; at: number };

export type BotKill = {
  at: number;
  botId: string;
  /** the human message being generated for when the kill landed */
  generatingFor: string | null;
  /** ms from the bot's "generating" line to the kill */
  intoGenerationMs: number | null;
  midGeneration: boolean;
};

export type BotCrash = { at: number; botId: string; exitCode: number | null; tail: string };

type Slot = {
  botId: string;
  stateFile: string;
  process: BotProcess;
  generating: { id: string; at: number } | null;
  /** called on the next "generating" line (a kill waiting for it) */
  onGenerating: (() => void) | null;
};

export class SoakBots {
  /** Log lines of every bot and every restart, read as one. */
  readonly log = new BotLog();
  readonly acked = new Map<string, AckedReply>();
  readonly kills: BotKill[] = [];
  readonly crashes: BotCrash[] = [];
  private readonly slots: Slot[];
  private readonly stateDir = mkdtempSync(join(tmpdir(), "soak-bots-"));
  /** An interrupted run leaves no state files behind (the bots' own exit hooks have killed them by then). */
  private readonly removeState = () => rmSync(this.stateDir, { recursive: true, force: true });
  private next = 0;
  /** reply posts on their way, by reply id (a post cut off by a kill stays unknown: info) */
  private readonly sending = new Map<string, Invoked>();

  constructor(private readonly settings: BotSettings) {
    process.once("exit", this.removeState);
    this.slots = Array.from({ length: settings.count }, (_, i) => {
      const botId = `soak-bot-${i + 1}`;
      const slot: Slot = {
        botId,
        stateFile: join(this.stateDir, `${botId}.json`),
        process: null!,
        generating: null,
        onGenerating: null,
      };
      slot.process = this.spawn(slot);
      return slot;
    });
  }

  /**
   * Replies acknowledged before `at` that the bots have not yet seen in their room. The
   * settle waits for these only: bots still working through a backlog keep adding new ones.
   */
  unverifiedBefore(at: number): number {
    return [...this.log.replies.values()].filter((r) => r.ackedAt < at && r.verifiedAt === undefined).length;
  }

  /**
   * Kills the next bot (round robin) right after it starts generating, then starts it
   * again. Waits at most `waitMs` for a generation; after that the kill lands anyway.
   */
  async killMidGeneration(waitMs: number): Promise<BotKill> {
    const slot = this.slots[this.next++ % this.slots.length]!;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, waitMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      slot.onGenerating = done;
    });
    slot.onGenerating = null;
    const generating = slot.generating;
    const at = now();
    await slot.process.kill();
    const intoGenerationMs = generating ? Math.round(at - generating.at) : null;
    const kill: BotKill = {
      at,
      botId: slot.botId,
      generatingFor: generating?.id ?? null,
      intoGenerationMs,
      midGeneration: intoGenerationMs !== null && intoGenerationMs < this.settings.generationMs,
    };
    this.kills.push(kill);
    slot.generating = null;
    slot.process = this.spawn(slot);
    return kill;
  }

  /** Starts again any bot that exited by itself (recorded as a crash). */
  restartCrashed(): BotCrash[] {
    const found: BotCrash[] = [];
    for (const slot of this.slots) {
      if (slot.process.running || !slot.process.exitedEarly) continue;
      found.push({ at: now(), botId: slot.botId, exitCode: slot.process.exitCode, tail: slot.process.tail() });
      slot.process = this.spawn(slot);
    }
    this.crashes.push(...found);
    return found;
  }

  async stop(): Promise<void> {
    await Promise.all(this.slots.map((slot) => slot.process.stop()));
    process.off("exit", this.removeState);
    this.removeState();
  }

  private spawn(slot: Slot): BotProcess {
    const { url, botToken, rooms, pollMs, generationMs } = this.settings;
    return new BotProcess({
      url,
      botToken,
      rooms,
      kind: "offline",
      botId: slot.botId,
      pollMs,
      entry: SLOW_BOT,
      env: { SOAK_GENERATION_MS: String(generationMs) },
      stateFile: slot.stateFile,
      log: this.log,
      ownProcessGroup: true,
      onLine: (line) => this.onLine(slot, line),
    });
  }

  private onLine(slot: Slot, line: string): void {
    if (!line.startsWith("[Soak]")) return;
    let match: RegExpExecArray | null;
    if ((match = REPLY_SENDING.exec(line))) {
      const [, id, replyTo, room] = match as unknown as [string, string, string, string];
      const op = this.settings.recorder?.invoke({ type: "send", process: slot.botId, room, id, kind: "ai", replyTo });
      if (op) this.sending.set(id, op);
    } else if ((match = REPLY_ANSWERED.exec(line))) {
      const [, id, status, mode] = match as unknown as [string, string, string, string];
      const code = Number(status);
      // A final 4xx (e.g. the message already answered) is fail; no answer or a 5xx is unknown.
      const outcome = isFinalRefusal(code) ? "fail" : "info";
      this.sending.get(id)?.complete(outcome, { status: code, mode: mode === "do" || mode === "kv" ? mode : null });
      this.sending.delete(id);
    } else if ((match = GENERATING.exec(line))) {
      slot.generating = { id: match[1]!, at: now() };
      slot.onGenerating?.();
    } else if ((match = REPLY_ACKED.exec(line))) {
      const [, id, replyTo, room, mode] = match as unknown as [string, string, string, string, string];
      const known = mode === "do" || mode === "kv" ? mode : null;
      if (!this.acked.has(id)) this.acked.set(id, { id, replyTo, room, mode: known, at: now() });
      this.sending.get(id)?.complete("ok", { mode: known });
      this.sending.delete(id);
    } else if ((match = SERVER_ERROR.exec(line))) {
      const mode = match[3];
      this.settings.failures.add("bots", match[2]!, Number(match[1]), mode === "do" || mode === "kv" ? mode : null);
    } else if ((match = NO_ANSWER.exec(line))) {
      this.settings.failures.add("bots", match[1]!, 0);
    }
  }
}
