// The real bot (bot/main.ts) as a child process, configured through its environment.
// The lab learns what the bot did from its log lines, which keep the first version's wording:
//   [Bot] Answered <human id> in #<room> with <ai id>
//   [Self-Heal] Added AI response to pending: <ai id>       (the server acknowledged it)
//   [Self-Heal] ✅ AI response found in cache: <ai id>       (a check saw it)
//   [Self-Heal] AI response missing, triggering heal: <ai id> (a check did not)
//   [Self-Heal] AI response <ai id> is older than the newest 200 … (checks end: newer messages pushed it out of the window)
//   [Self-Heal] Heal re-added <ai id> …                       (a heal put a lost reply back)
// Counting acknowledged replies from the bot itself, not from the room's list,
// is what makes a lost reply visible at all.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { constants as osConstants, tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../scripts/local-worker";
import type { FirstCheck } from "../../src/client/verifier";
import { now } from "./time";

export type BotKind = "offline" | "ollama";

export type BotReplyRecord = {
  id: string;
  replyTo?: string;
  /** now() when the acknowledgement line was read */
  ackedAt: number;
  /** the bot's first check of this reply (the bot gets no pushes: in, missing or out-of-window) */
  firstCheck?: FirstCheck;
  healCalls: number;
  /** heals that the server answered with readded: true (a real loss put back) */
  healsReadded: number;
  /** when the bot's checks ended: it saw the reply, or the reply aged out of the window it checks */
  verifiedAt?: number;
  agedOut?: boolean;
};

export type BotProcessOptions = {
  url: string;
  botToken: string;
  rooms: string[];
  kind: BotKind;
  botId: string;
  pollMs: number;
  /** passed through to the bot for --bot ollama */
  ollamaHost?: string;
  ollamaModel?: string;
  /** the script to run instead of bot/main.ts; it must run the real bot (the soak's slowed bot does) */
  entry?: string;
  /** extra environment for the bot */
  env?: Record<string, string>;
  /** the bot's pending list, kept after stop: a bot started again on it resumes verifying (default: a temp file) */
  stateFile?: string;
  /** where the bot's log lines are recorded; one BotLog shared by several processes merges them */
  log?: BotLog;
  /** every line the bot prints on stdout */
  onLine?(line: string): void;
  /**
   * Run it in its own process group, so kill() can end tsx and the bot under it at once,
   * as a crash would. Off by default: then Ctrl-C in a terminal reaches the bot directly.
   */
  ownProcessGroup?: boolean;
};

const TSX_CLI = join(PROJECT_ROOT, "node_modules", "tsx", "dist", "cli.mjs");
const BOT_MAIN = join(PROJECT_ROOT, "bot", "main.ts");

const ANSWERED = /\[Bot\] Answered (\S+) in #\S+ with (\S+)/;
const ACKED = /\[Self-Heal\] Added AI response to pending: (\S+)/;
const FOUND = /\[Self-Heal\] .*AI response found in cache: (\S+)/;
const MISSING = /\[Self-Heal\] AI response missing, triggering heal: (\S+)/;
const GAVE_UP = /\[Bot\] Gave up on (\S+)/;
const AGED_OUT = /\[Self-Heal\] AI response (\S+) is older than the newest/;
const READDED = /\[Self-Heal\] Heal re-added (\S+)/;

/** What bots said they did, read from their log lines. */
export class BotLog {
  readonly replies = new Map<string, BotReplyRecord>();
  /** human id → AI reply ids the bot says it posted for it */
  readonly answers = new Map<string, string[]>();
  /** human ids the bot marked failed (no reply will come) */
  readonly gaveUp = new Set<string>();

  /** Replies acknowledged but not yet seen by the bot's own check. */
  get unverified(): number {
    return [...this.replies.values()].filter((r) => r.verifiedAt === undefined).length;
  }

  read(line: string): void {
    const at = now();
    let match: RegExpExecArray | null;
    if ((match = ANSWERED.exec(line))) {
      const [, human, ai] = match as unknown as [string, string, string];
      this.answers.set(human, [...(this.answers.get(human) ?? []), ai]);
      const record = this.replies.get(ai);
      if (record) record.replyTo = human;
    } else if ((match = ACKED.exec(line))) {
      const id = match[1]!;
      if (!this.replies.has(id)) {
        const replyTo = [...this.answers].find(([, ais]) => ais.includes(id))?.[0];
        this.replies.set(id, { id, ackedAt: at, healCalls: 0, healsReadded: 0, ...(replyTo ? { replyTo } : {}) });
      }
    } else if ((match = FOUND.exec(line))) {
      const record = this.replies.get(match[1]!);
      if (record) {
        record.firstCheck ??= "in";
        record.verifiedAt ??= at;
      }
    } else if ((match = AGED_OUT.exec(line))) {
      const record = this.replies.get(match[1]!);
      if (record) {
        record.firstCheck ??= "out-of-window";
        record.agedOut = true;
        record.verifiedAt ??= at;
      }
    } else if ((match = GAVE_UP.exec(line))) {
      this.gaveUp.add(match[1]!);
    } else if ((match = MISSING.exec(line))) {
      const record = this.replies.get(match[1]!);
      if (record) {
        record.firstCheck ??= "missing";
        record.healCalls++;
      }
    } else if ((match = READDED.exec(line))) {
      const record = this.replies.get(match[1]!);
      if (record) record.healsReadded++;
    }
  }
}

export class BotProcess {
  readonly log: BotLog;
  private readonly child: ChildProcess;
  /** the temp dir of the state file this process made itself (removed on stop) */
  private readonly stateDir: string | null;
  private output: string[] = [];
  private exited: Promise<number | null>;
  exitCode: number | null = null;

  constructor(readonly options: BotProcessOptions) {
    this.log = options.log ?? new BotLog();
    this.stateDir = options.stateFile ? null : mkdtempSync(join(tmpdir(), "race-bot-"));
    const stateFile = options.stateFile ?? join(this.stateDir!, "state.json");
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      CHAT_API_URL: options.url,
      BOT_TOKEN: options.botToken,
      BOT_ROOMS: options.rooms.join(","),
      BOT_ID: options.botId,
      BOT_POLL_MS: String(options.pollMs),
      BOT_STATE_FILE: stateFile,
      ...(options.ollamaHost ? { OLLAMA_HOST: options.ollamaHost } : {}),
      ...(options.ollamaModel ? { OLLAMA_MODEL: options.ollamaModel } : {}),
      ...options.env,
    };
    const flag = options.kind === "offline" ? "--offline" : "--require-ollama";
    // The running Node (22, via npm/npx) runs tsx, so the bot never lands on an older system node.
    this.child = spawn(process.execPath, [TSX_CLI, options.entry ?? BOT_MAIN, flag], {
      cwd: PROJECT_ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: options.ownProcessGroup ?? false,
    });
    // A group of our own is not ended by a Ctrl-C in the terminal: end it when we exit.
    const onExit = () => this.signalGroup("SIGKILL");
    if (options.ownProcessGroup) process.once("exit", onExit);
    this.exited = new Promise((resolve) =>
      this.child.once("exit", (code, signal) => {
        process.off("exit", onExit);
        // Killed by a signal: code is null; report 128 + n as a shell would, so "still running" stays null.
        resolve((this.exitCode = code ?? 128 + (signal ? osConstants.signals[signal] : 0)));
      }),
    );
    let buffered = "";
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) this.onLine(line);
    };
    this.child.stdout!.on("data", onData);
    this.child.stderr!.on("data", (chunk: Buffer) => this.keep(chunk.toString("utf8")));
  }

  private keep(line: string): void {
    this.output.push(line);
    if (this.output.length > 400) this.output = this.output.slice(-300);
  }

  private onLine(line: string): void {
    this.keep(line);
    this.log.read(line);
    this.options.onLine?.(line);
  }

  get replies(): Map<string, BotReplyRecord> {
    return this.log.replies;
  }
  get answers(): Map<string, string[]> {
    return this.log.answers;
  }
  get gaveUp(): Set<string> {
    return this.log.gaveUp;
  }

  private stopRequested = false;

  get running(): boolean {
    return this.exitCode === null;
  }

  /** It ended without being asked to (a crash, a refused token, no Ollama with --require-ollama). */
  get exitedEarly(): boolean {
    return this.exitCode !== null && !this.stopRequested;
  }

  /** Replies acknowledged but not yet seen by the bot's own check. */
  get unverified(): number {
    return this.log.unverified;
  }

  /** The last lines the bot printed, for error messages. */
  tail(lines = 30): string {
    return this.output.slice(-lines).join("\n");
  }

  async stop(): Promise<void> {
    if (this.exitCode === null) {
      this.stopRequested = true;
      this.child.kill("SIGTERM");
      const timer = setTimeout(
        () => (this.options.ownProcessGroup ? this.signalGroup("SIGKILL") : this.child.kill("SIGKILL")),
        10_000,
      );
      await this.exited;
      clearTimeout(timer);
    }
    // tsx's child may outlive tsx by a moment; nothing of the group may stay.
    if (this.options.ownProcessGroup) this.signalGroup("SIGKILL");
    if (this.stateDir) rmSync(this.stateDir, { recursive: true, force: true });
  }

  /**
   * Ends the bot at once, as a crash or `kill -9` would: no release of its claim, no last
   * save. Needs ownProcessGroup: tsx runs the bot in a child process of its own.
   */
  async kill(): Promise<void> {
    if (!this.options.ownProcessGroup) throw new Error("BotProcess.kill() needs ownProcessGroup: true");
    this.stopRequested = true;
    this.signalGroup("SIGKILL");
    await this.exited;
  }

  private signalGroup(signal: NodeJS.Signals): void {
    try {
      if (this.child.pid) process.kill(-this.child.pid, signal);
    } catch {
      // the group is already gone
    }
  }
}

/** Several bot processes answering the same rooms, seen as one: their logs merged. */
export class BotFleet {
  readonly bots: BotProcess[];

  constructor(count: number, options: BotProcessOptions) {
    this.bots = Array.from(
      { length: count },
      (_, i) => new BotProcess({ ...options, botId: count === 1 ? options.botId : `${options.botId}-${i + 1}` }),
    );
  }

  get replies(): Map<string, BotReplyRecord> {
    return new Map(this.bots.flatMap((bot) => [...bot.replies]));
  }

  get answers(): Map<string, string[]> {
    const merged = new Map<string, string[]>();
    for (const bot of this.bots)
      for (const [human, ids] of bot.answers) merged.set(human, [...(merged.get(human) ?? []), ...ids]);
    return merged;
  }

  get gaveUp(): Set<string> {
    return new Set(this.bots.flatMap((bot) => [...bot.gaveUp]));
  }

  get unverified(): number {
    return this.bots.reduce((sum, bot) => sum + bot.unverified, 0);
  }

  /** The bots that exited by themselves, with their code and last lines. */
  get crashed(): { botId: string; exitCode: number | null; tail: string }[] {
    return this.bots
      .filter((bot) => bot.exitedEarly)
      .map((bot) => ({ botId: bot.options.botId, exitCode: bot.exitCode, tail: bot.tail() }));
  }

  async stop(): Promise<void> {
    await Promise.all(this.bots.map((bot) => bot.stop()));
  }
}
