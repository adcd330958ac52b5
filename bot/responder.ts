// Who writes the replies: Ollama (streamed through the official client) or the
// built-in offline responder, whose replies are plainly marked.
import { Ollama } from "ollama";
import { MAX_AUTHOR, MAX_TEXT } from "../src/shared/message";
import { checkModel, isModelMissing, pullHint, pullModel, type ModelCheck } from "./ollama-model";
import { cleanName, cleanText } from "../src/shared/text-hygiene";
import { spokenText, type ChatTurn } from "./prompt";
import type { ReplyUsage } from "../src/shared/bots";
import { clip, replyText, splitThinking, textSoFar, thinkParameter, type ThinkSetting } from "./thinking";

export interface Responder {
  readonly kind: "ollama" | "offline";
  /** Shown as the reply's author. */
  readonly author: string;
  /** One line for logs and `npm start`. */
  readonly description: string;
  /**
   * `onText`: the reply's text so far, after every chunk the model sends (for streaming it to the room).
   * `onUsage`: the tokens the model counted (`prompt_eval_count`, `eval_count`), when it says.
   */
  reply(
    turns: ChatTurn[],
    signal: AbortSignal,
    onText?: (textSoFar: string) => void,
    onUsage?: (usage: ReplyUsage) => void,
  ): Promise<string>;
}

export const OFFLINE_AUTHOR = "bot (offline)";

/** fetch bound to an extra signal, so a timeout also aborts a request still waiting for headers. */
function fetchWith(signal: AbortSignal): typeof fetch {
  return (input, init) =>
    fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal });
}

export type OllamaOptions = {
  think: ThinkSetting;
  /** the server lists "thinking" among the model's capabilities */
  canThink: boolean;
  /** BOT_PULL=1: a model missing mid-run (removed, another server) is pulled, then the generation runs again */
  pull: boolean;
  log: (line: string) => void;
};

export class OllamaResponder implements Responder {
  readonly kind = "ollama";
  readonly author: string;
  readonly description: string;

  constructor(
    private readonly host: string,
    private readonly model: string,
    private readonly options: OllamaOptions,
    author?: string,
  ) {
    this.author = clip(cleanName(author ?? `bot (${model})`), MAX_AUTHOR);
    const thinking =
      options.think === "off"
        ? "thinking off"
        : options.canThink
          ? `thinking ${options.think}, shown in replies`
          : "thinking asked for, but the model cannot think";
    this.description = `Ollama model ${model} at ${host} (${thinking})`;
  }

  async reply(
    turns: ChatTurn[],
    signal: AbortSignal,
    onText?: (textSoFar: string) => void,
    onUsage?: (usage: ReplyUsage) => void,
  ): Promise<string> {
    signal.throwIfAborted();
    const client = new Ollama({ host: this.host, fetch: fetchWith(signal) });
    let generated: { content: string; thinking: string; usage: ReplyUsage | null };
    try {
      generated = await this.generate(client, turns, signal, onText);
    } catch (err) {
      if (signal.aborted || !isModelMissing(err)) throw err;
      // Not crashing: without BOT_PULL the message is retried later (and marked failed, saying how to fix it).
      if (!this.options.pull)
        throw new Error(`Ollama at ${this.host} does not have the model "${this.model}": ${pullHint(this.model)}`);
      await pullModel(client, this.model, this.options.log, signal);
      generated = await this.generate(client, turns, signal, onText);
    }
    signal.throwIfAborted();
    if (generated.usage) onUsage?.(generated.usage);
    // Reasoning in the content (a model Ollama has no thinking parser for) is split off like `message.thinking`.
    const { thinking, answer: raw } = splitThinking(generated.content);
    // Cleaned as the Worker will clean it: a reply of only invisible characters fails here, not as a 400.
    const answer = cleanText(raw);
    if (!answer) throw new Error(`Ollama model ${this.model} returned an empty reply`);
    return replyText(
      answer,
      [generated.thinking.trim(), thinking].filter(Boolean).join("\n\n"),
      this.options.think !== "off",
    );
  }

  private async generate(
    client: Ollama,
    turns: ChatTurn[],
    signal: AbortSignal,
    onText?: (textSoFar: string) => void,
  ): Promise<{ content: string; thinking: string; usage: ReplyUsage | null }> {
    const think = thinkParameter(this.options.think, this.options.canThink);
    const stream = await client.chat({ model: this.model, messages: turns, stream: true, think });
    const stop = () => stream.abort();
    signal.addEventListener("abort", stop, { once: true });
    let content = "";
    let thinking = "";
    let usage: ReplyUsage | null = null;
    try {
      // Tokens arrive one chunk at a time; viewers see them through onText (as the reply will show
      // them: thinking left out unless BOT_THINK), the reply is posted once it is whole.
      for await (const part of stream) {
        const added = (part.message?.content ?? "") + (part.message?.thinking ?? "");
        content += part.message?.content ?? "";
        thinking += part.message?.thinking ?? "";
        if (added) onText?.(textSoFar(content, thinking, this.options.think !== "off"));
        // The last chunk (done) carries the counts.
        if (part.done && (part.prompt_eval_count || part.eval_count))
          usage = { promptTokens: part.prompt_eval_count ?? 0, replyTokens: part.eval_count ?? 0 };
      }
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw err;
    } finally {
      signal.removeEventListener("abort", stop);
    }
    return { content, thinking, usage };
  }
}

export class OfflineResponder implements Responder {
  readonly kind = "offline";
  readonly author = OFFLINE_AUTHOR;
  readonly description = "the built-in offline responder (no Ollama)";

  async reply(turns: ChatTurn[], signal: AbortSignal): Promise<string> {
    signal.throwIfAborted();
    const said = spokenText(turns.at(-1));
    return clip(
      `[offline auto-reply: no language model is connected] I got your message: "${clip(said, 300)}"`,
      MAX_TEXT,
    );
  }
}

/** Offline until Ollama can answer; `fix` says how to make it answer. */
export type Probe =
  { ok: true; version: string; canThink: boolean } | { ok: false; reason: string; fix: string; serverUp: boolean };

const INSTALL_FIX = (model: string) =>
  `install Ollama (https://ollama.com/download) and run \`ollama pull ${model}\`, or set OLLAMA_HOST to a server that has it`;

/** Is an Ollama server answering at `host`, does it have `model`, and can the model think? */
export async function probeOllama(host: string, model: string, timeoutMs = 3000): Promise<Probe> {
  const client = new Ollama({ host, fetch: fetchWith(AbortSignal.timeout(timeoutMs)) });
  let version: string;
  try {
    version = (await client.version()).version;
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    return {
      ok: false,
      reason: `no Ollama server answers at ${host} (${cause})`,
      fix: INSTALL_FIX(model),
      serverUp: false,
    };
  }
  let check: ModelCheck;
  try {
    check = await checkModel(client, model);
  } catch (err) {
    return {
      ok: false,
      reason: `Ollama at ${host} did not describe the model "${model}" (${(err as Error).message})`,
      fix: INSTALL_FIX(model),
      serverUp: true,
    };
  }
  if (!check.present)
    return {
      ok: false,
      reason: `Ollama ${version} at ${host} does not have the model "${model}"`,
      fix: pullHint(model),
      serverUp: true,
    };
  return { ok: true, version, canThink: check.canThink };
}

export class OllamaUnavailableError extends Error {}

export type ResponderOptions = {
  /** the replies' author (a registered bot's name); else the model's label */
  author?: string;
  ollamaHost: string;
  model: string;
  offline: boolean;
  requireOllama: boolean;
  think: ThinkSetting;
  pull: boolean;
};

/**
 * Picks the responder at start: Ollama if it answers and has the model (pulled first with
 * BOT_PULL=1), else the offline responder, which asks Ollama again before each reply and hands
 * over once it can answer (or, with --require-ollama, an error).
 */
export async function chooseResponder(options: ResponderOptions, log: (line: string) => void): Promise<Responder> {
  if (options.offline) {
    log('[Bot] --offline: answering with the built-in offline responder (replies marked "bot (offline)")');
    return new OfflineResponder();
  }
  const probe = await probeWithPull(options, log);
  if (probe.ok) return useOllama(options, probe, log);
  if (options.requireOllama)
    throw new OllamaUnavailableError(
      `[Bot] Ollama unavailable: ${probe.reason}. To fix: ${probe.fix}. Exiting (--require-ollama).`,
    );
  log(
    `[Bot] Ollama unavailable: ${probe.reason}. To fix: ${probe.fix}. Until then the offline responder answers (replies marked "${OFFLINE_AUTHOR}"); Ollama is asked again before each reply.`,
  );
  return new FallbackResponder(async () => {
    const again = await probeOllama(options.ollamaHost, options.model, 1000);
    return again.ok ? useOllama(options, again, log) : null;
  });
}

async function probeWithPull(options: ResponderOptions, log: (line: string) => void): Promise<Probe> {
  const probe = await probeOllama(options.ollamaHost, options.model);
  if (probe.ok || !probe.serverUp || !options.pull) return probe;
  try {
    await pullModel(new Ollama({ host: options.ollamaHost }), options.model, log);
  } catch (err) {
    const reason = `pulling "${options.model}" on Ollama at ${options.ollamaHost} failed (${(err as Error).message})`;
    return {
      ok: false,
      reason,
      fix: `check the model name (https://ollama.com/library) and that the Ollama machine reaches the registry, then run \`ollama pull ${options.model}\` there`,
      serverUp: true,
    };
  }
  return probeOllama(options.ollamaHost, options.model);
}

function useOllama(
  options: ResponderOptions,
  probe: Extract<Probe, { ok: true }>,
  log: (line: string) => void,
): OllamaResponder {
  log(`[Bot] Using Ollama ${probe.version} at ${options.ollamaHost}, model ${options.model}`);
  if (options.think !== "off" && !probe.canThink)
    log(
      `[Bot] BOT_THINK=${options.think}: the model ${options.model} cannot think (Ollama does not list "thinking" among its capabilities); asking without thinking`,
    );
  return new OllamaResponder(
    options.ollamaHost,
    options.model,
    { think: options.think, canThink: probe.canThink, pull: options.pull, log },
    options.author,
  );
}

/**
 * The offline responder while Ollama cannot answer. Before each reply it asks Ollama again
 * (someone may have run `ollama pull` meanwhile) and, once it can, answers with Ollama from then on.
 */
export class FallbackResponder implements Responder {
  private current: Responder = new OfflineResponder();

  constructor(private readonly connect: () => Promise<Responder | null>) {}

  get kind(): Responder["kind"] {
    return this.current.kind;
  }
  get author(): string {
    return this.current.author;
  }
  get description(): string {
    return this.current.kind === "ollama"
      ? this.current.description
      : `${this.current.description}, until Ollama can answer`;
  }

  async reply(...args: Parameters<Responder["reply"]>): Promise<string> {
    if (this.current.kind === "offline") this.current = (await this.connect().catch(() => null)) ?? this.current;
    return this.current.reply(...args);
  }
}
