// The bot's loop: poll its rooms, claim the next waiting human message (senders in turn),
// generate a reply, post it with a client-chosen id, then verify (and heal) every acknowledged
// reply until it is seen in the room's cache.
import { CACHE_SIZE, MAX_TEXT, newMessageId, type Message } from "../src/shared/message";
import { HttpError, ChatApi, type ReplyInput } from "./api";
import { resolveConfig, type BotConfig, type BotOptions } from "./config";
import type { BotMe, ReplyUsage } from "../src/shared/bots";
import { Lease } from "./lease";
import { buildTurns } from "./prompt";
import { chooseResponder, type Responder } from "./responder";
import { clip } from "./thinking";
import { cleanText } from "../src/shared/text-hygiene";
import { ReplyStream } from "./stream";
import { PendingStore } from "./state";
import { ReplyVerifier } from "./verifier";

export type BotHandle = {
  readonly botId: string;
  readonly config: BotConfig;
  /** What answers now: "ollama", or "offline" (until Ollama can answer; asked again before each reply). */
  readonly responder: Responder;
  /** Acknowledged replies not yet seen in their room's cache. */
  pendingVerification(): number;
  /** Resolves when the loop has ended after stop(); rejects on a fatal error (e.g. a wrong BOT_TOKEN). */
  readonly done: Promise<void>;
  /** Stops claiming, releases a held claim, saves the pending list. Idempotent. */
  stop(): Promise<void>;
};

const MAX_WORKER_BACKOFF_MS = 30_000;
const MAX_RETRY_BACKOFF_MS = 60_000;
const POST_ATTEMPTS = 5;
/** The reply's text when Stop came before the model wrote anything. */
const STOPPED_EMPTY = "(stopped before any text was written)";
/** Remembered answered message ids (kv mode can show an answered message as pending again). */
const ANSWERED_MEMORY = 10_000;

export class FatalBotError extends Error {}

/** Starts a bot in this process. Probes Ollama first (falls back to offline unless requireOllama). */
export async function startBot(options: BotOptions = {}): Promise<BotHandle> {
  const resolved = resolveConfig(options);
  // A Worker that does not answer yet: the loop asks again before its first poll.
  const me = await whoAmI(new ChatApi(resolved.apiUrl, resolved.token)).catch((err: unknown) => {
    if (err instanceof HttpError && err.unavailable) return undefined;
    throw err;
  });
  const config = me === undefined ? resolved : withIdentity(resolved, me, options);
  const store = PendingStore.load(config.stateFile);
  const responder = await chooseResponder(config, config.log);
  const bot = new Bot(config, responder, store, me === undefined ? options : null);
  const done = bot.run();
  done.catch(() => undefined); // observed through the handle
  let stopped: Promise<void> | undefined;
  return {
    get botId() {
      return bot.settings.botId;
    },
    get config() {
      return bot.settings;
    },
    get responder() {
      return bot.answerer;
    },
    pendingVerification: () => store.size,
    done,
    stop: () => (stopped ??= bot.stop(done)),
  };
}

/**
 * Who the token is (GET /api/bot/me): a registered bot, or null for the legacy BOT_TOKEN, a
 * wrong token (the loop's first call stops the bot with the reason) or an older Worker without
 * the route. Throws while the Worker does not answer.
 */
async function whoAmI(api: ChatApi): Promise<BotMe | null> {
  try {
    const me = await api.me();
    return me.legacy ? null : me;
  } catch (err) {
    if (err instanceof HttpError && (err.status === 401 || err.status === 404)) return null;
    throw err;
  }
}

/**
 * A registered bot's token names it: its name (the claims' holder and the replies' author), its
 * model (the Ollama model, unless BOT_MODEL says otherwise) and its rooms (unless BOT_ROOMS names
 * some). The legacy BOT_TOKEN keeps the configuration as it is.
 */
function withIdentity(config: BotConfig, me: BotMe | null, options: BotOptions): BotConfig {
  if (!me) return config;
  config.log(`[Bot] The token is bot @${me.name} (model ${me.model ?? "unset"})`);
  return {
    ...config,
    botId: me.name,
    author: me.name,
    model: options.model ?? me.model ?? config.model,
    rooms: options.rooms === undefined && me.rooms !== "all" ? me.rooms : config.rooms,
  };
}

class Bot {
  private readonly api: ChatApi;
  private readonly verifier: ReplyVerifier;
  private readonly stopController = new AbortController();
  private wake: (() => void) | undefined;
  private readonly failures = new Map<string, { count: number; retryAt: number }>();
  /** Answered message ids, with the change position they had when claimed (0: unknown). */
  private readonly answered = new Map<string, number>();
  private workerFailures = 0;

  constructor(
    private config: BotConfig,
    private responder: Responder,
    private readonly store: PendingStore,
    /** the options to learn the token's identity with, while the Worker has not said it yet */
    private unidentified: BotOptions | null,
  ) {
    this.api = new ChatApi(config.apiUrl, config.token, () => this.workerBack());
    this.verifier = new ReplyVerifier(this.api, store, config.log, config.pollMs);
    for (const entry of store.list()) this.remember(entry.replyTo, 0);
  }

  get settings(): BotConfig {
    return this.config;
  }

  get answerer(): Responder {
    return this.responder;
  }

  /** The Worker answered at last: a registered bot takes its name, model and rooms now. */
  private async identify(options: BotOptions): Promise<void> {
    const next = withIdentity(this.config, await whoAmI(this.api), options);
    this.unidentified = null;
    if (next.model !== this.config.model) this.responder = await chooseResponder(next, next.log);
    this.config = next;
  }

  private get stopping(): boolean {
    return this.stopController.signal.aborted;
  }

  private log(line: string): void {
    this.config.log(line);
  }

  async run(): Promise<void> {
    const rooms = this.config.rooms === "*" ? "every room" : this.config.rooms.map((r) => `#${r}`).join(", ");
    this.log(
      `[Bot] ${this.config.botId} answering ${rooms} at ${this.config.apiUrl} with ${this.responder.description}; polling every ${this.config.pollMs} ms`,
    );
    if (this.store.size > 0) {
      this.log(
        `[Self-Heal] Resuming verification of ${this.store.size} pending AI response(s) from ${this.store.file}`,
      );
    }
    while (!this.stopping) {
      let worked = false;
      try {
        if (this.unidentified) await this.identify(this.unidentified);
        await this.verifier.verify();
        worked = await this.answerNext();
      } catch (err) {
        if (this.stopping) break;
        if (err instanceof HttpError && err.unavailable) {
          await this.sleep(this.workerDown(err));
          continue;
        }
        if (err instanceof HttpError && err.status === 401) {
          throw new FatalBotError(
            `[Bot] The Worker at ${this.config.apiUrl} refused BOT_TOKEN (401): set BOT_TOKEN to the Worker's secret ` +
              "(locally: BOT_TOKEN in .dev.vars) or to a bot's token from the operator page (revoked and rotated ones " +
              "are refused)",
          );
        }
        this.log(`[Bot] Unexpected error, continuing: ${(err as Error).message}`);
      }
      // After a reply, look for the next message at once; idle, wait one poll.
      if (!worked) await this.sleep(this.config.pollMs);
    }
  }

  async stop(done: Promise<void>): Promise<void> {
    if (!this.stopping) {
      this.log("[Bot] Stopping: no new claims, releasing any held claim");
      this.stopController.abort(new Error("bot stopping"));
      this.wake?.();
    }
    await done.catch(() => undefined);
    this.store.flush();
    this.log(`[Bot] Stopped; ${this.store.size} AI response(s) awaiting verification saved in ${this.store.file}`);
  }

  // ---- answering ----

  /**
   * Claims and answers the next waiting message across the bot's rooms; false if there was none.
   * Each room lists its messages senders in turn (shared/fair-queue.ts); rooms take turns too:
   * every room's first, then every room's second... With every room ("*"), the rooms come from
   * one listing of those that may have work, not a call per room.
   */
  private async answerNext(): Promise<boolean> {
    const rooms = this.config.rooms === "*" ? await this.api.roomsWithWork() : this.config.rooms;
    const ranked: { message: Message; rank: number }[] = [];
    for (const room of rooms) {
      const pending = await this.api.pending(room, this.config.botId);
      pending.forEach((message, rank) => ranked.push({ message, rank }));
    }
    ranked.sort((a, b) => a.rank - b.rank || a.message.createdAt - b.message.createdAt);
    const now = Date.now();
    for (const { message } of ranked) {
      if (this.stopping) return false;
      if (this.wasAnswered(message) || (this.failures.get(message.id)?.retryAt ?? 0) > now) continue;
      const lease = await Lease.take(this.api, message, this.config.botId);
      if (!lease) continue; // another bot holds it or answered it
      await this.answer(lease);
      return true;
    }
    return false;
  }

  private async answer(lease: Lease): Promise<void> {
    const human = lease.message;
    const timeout = AbortSignal.timeout(this.config.timeoutMs);
    // The reply's id is chosen now: the room shows the stream under the id the reply will have.
    const id = newMessageId();
    const stream = new ReplyStream(
      this.api,
      { id, room: human.room, replyTo: human.id, botId: this.config.botId, author: this.responder.author },
      (line) => this.log(line),
    );
    const signal = AbortSignal.any([
      this.stopController.signal,
      lease.lost,
      timeout,
      stream.stopRequested,
      stream.deleted,
    ]);
    let text: string;
    let stopped = false;
    let usage: ReplyUsage | undefined;
    try {
      // The whole recent list: messages newer than `human` are dropped, the context is cut from what is left.
      const history = await this.api.recent(human.room, CACHE_SIZE);
      text = await this.responder.reply(
        buildTurns(history, human, this.config.contextSize, this.config.systemPrompt, this.config.contextTokens),
        signal,
        (soFar) => stream.update(soFar),
        (counted) => (usage = counted),
      );
    } catch (err) {
      await stream.finish();
      if (stream.deleted.aborted) return this.deletedMeanwhile(lease, (stream.deleted.reason as Error).message);
      if (!stream.stopRequested.aborted || this.stopping || lease.lost.aborted)
        return this.notAnswered(lease, err, timeout);
      // Stop pressed: the reply is what was written until then, marked stopped.
      stopped = true;
      text = clip(cleanText(stream.written) || STOPPED_EMPTY, MAX_TEXT);
    }
    await stream.finish();

    const reply: ReplyInput = {
      id,
      room: human.room,
      replyTo: human.id,
      text,
      author: this.responder.author,
      botId: this.config.botId,
      ...(stopped ? { stopped } : {}),
      ...(usage ? { usage } : {}),
    };
    await lease.quiesce();
    if (lease.lost.aborted) {
      this.log(`[Bot] ${(lease.lost.reason as Error).message}; leaving it to the new holder`);
      return;
    }
    try {
      const { message } = await this.postReply(reply);
      lease.stop();
      this.remember(human.id, lease.message.pos);
      this.failures.delete(human.id);
      this.log(
        `[Bot] Answered ${human.id} in #${human.room} with ${message.id}${stopped ? " (stopped by a viewer)" : ""}`,
      );
      this.verifier.add({
        id: message.id,
        room: message.room,
        replyTo: human.id,
        createdAt: message.createdAt,
        ackedAt: Date.now(),
      });
    } catch (err) {
      if (err instanceof HttpError && err.status === 409) {
        // Someone else answered first (do mode allows one reply per message): not an error.
        lease.stop();
        this.remember(human.id, lease.message.pos);
        this.log(`[Bot] ${human.id} was answered by another bot; dropping my reply (${err.message})`);
        return;
      }
      if (err instanceof HttpError && err.status === 410) return this.deletedMeanwhile(lease, err.message);
      await lease.release();
      if (err instanceof HttpError && err.unavailable) throw err;
      this.log(`[Bot] Posting the reply to ${human.id} was refused: ${(err as Error).message}`);
    }
  }

  /** An operator deleted the message (or our reply's id) meanwhile: nothing left to answer. */
  private deletedMeanwhile(lease: Lease, reason: string): void {
    lease.stop();
    this.remember(lease.message.id, lease.message.pos);
    this.log(`[Bot] ${lease.message.id} was deleted by an operator; dropping my reply (${reason})`);
  }

  /** Generation ended without a reply: the bot is stopping, the lease was lost, the Worker is down, or the model failed. */
  private async notAnswered(lease: Lease, err: unknown, timeout: AbortSignal): Promise<void> {
    if (this.stopping) return lease.release();
    if (lease.lost.aborted) {
      lease.stop();
      this.log(`[Bot] ${(lease.lost.reason as Error).message}; leaving it to the new holder`);
      return;
    }
    if (err instanceof HttpError && err.unavailable) {
      await lease.release();
      throw err; // the Worker is the problem, not the model: back off in the loop
    }
    const reason = timeout.aborted
      ? `generation timed out after ${this.config.timeoutMs} ms`
      : `generation failed: ${(err as Error).message}`;
    return this.generationFailed(lease, reason);
  }

  /** Retries a post the Worker did not answer; the same id makes a repeat harmless. */
  private async postReply(reply: ReplyInput): Promise<{ message: Message; created: boolean }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.api.postReply(reply);
      } catch (err) {
        if (!(err instanceof HttpError && err.unavailable) || attempt >= POST_ATTEMPTS || this.stopping) throw err;
        const delay = this.backoff(attempt, MAX_WORKER_BACKOFF_MS);
        this.log(`[Bot] Posting reply ${reply.id} failed (${err.message}); retrying in ${delay} ms`);
        await this.sleep(delay);
      }
    }
  }

  /** Releases the message and retries later with backoff; after maxAttempts marks it failed with the reason. */
  private async generationFailed(lease: Lease, reason: string): Promise<void> {
    const id = lease.message.id;
    const count = (this.failures.get(id)?.count ?? 0) + 1;
    if (count >= this.config.maxAttempts) {
      lease.stop();
      this.failures.delete(id);
      try {
        await this.api.fail(lease.message, this.config.botId, `${reason} (gave up after ${count} attempts)`);
        this.remember(id, lease.message.pos);
        this.log(`[Bot] Gave up on ${id} after ${count} attempts (${reason}); marked failed`);
      } catch (err) {
        await lease.release();
        if (err instanceof HttpError && err.unavailable) throw err;
        this.log(`[Bot] Could not mark ${id} failed: ${(err as Error).message}`);
      }
      return;
    }
    const delay = this.backoff(count, MAX_RETRY_BACKOFF_MS);
    this.failures.set(id, { count, retryAt: Date.now() + delay });
    await lease.release();
    this.log(
      `[Bot] Reply to ${id} failed (attempt ${count}/${this.config.maxAttempts}): ${reason}; released, retrying in ${delay} ms`,
    );
  }

  private remember(humanId: string, pos = 0): void {
    this.answered.set(humanId, pos);
    if (this.answered.size > ANSWERED_MEMORY) this.answered.delete(this.answered.keys().next().value!);
  }

  /**
   * Answered already: a kv list may show an answered message as pending again. A do room's
   * message that moved on since (its asker asked again: a later position) waits for a new answer.
   */
  private wasAnswered(message: Message): boolean {
    const pos = this.answered.get(message.id);
    if (pos === undefined) return false;
    return message.pos === undefined || message.pos <= pos;
  }

  // ---- Worker outages ----

  private workerDown(err: HttpError): number {
    this.workerFailures++;
    const delay = this.backoff(this.workerFailures, MAX_WORKER_BACKOFF_MS);
    this.log(`[Bot] Worker unavailable (${err.message}); retrying in ${delay} ms`);
    return delay;
  }

  private workerBack(): void {
    if (this.workerFailures === 0) return;
    this.log(`[Bot] Worker at ${this.config.apiUrl} is answering again`);
    this.workerFailures = 0;
  }

  private backoff(attempt: number, max: number): number {
    return Math.min(this.config.pollMs * 2 ** (attempt - 1), max);
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
