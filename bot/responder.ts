// Who writes the replies: Ollama (streamed through the official client) or the
// built-in offline responder, whose replies are plainly marked.
import { Ollama } from "ollama";
import { MAX_AUTHOR, MAX_TEXT } from "../src/shared/message";
import { cleanName, cleanText } from "../src/shared/text-hygiene";
import type { ChatTurn } from "./prompt";

export interface Responder {
  readonly kind: "ollama" | "offline";
  /** Shown as the reply's author. */
  readonly author: string;
  /** One line for logs and `npm start`. */
  readonly description: string;
  reply(turns: ChatTurn[], signal: AbortSignal): Promise<string>;
}

export const OFFLINE_AUTHOR = "bot (offline)";

/** fetch bound to an extra signal, so a timeout also aborts a request still waiting for headers. */
function fetchWith(signal: AbortSignal): typeof fetch {
  return (input, init) => fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal });
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export class OllamaResponder implements Responder {
  readonly kind = "ollama";
  readonly author: string;
  readonly description: string;

  constructor(private readonly host: string, private readonly model: string) {
    this.author = clip(cleanName(`bot (${model})`), MAX_AUTHOR);
    this.description = `Ollama model ${model} at ${host}`;
  }

  async reply(turns: ChatTurn[], signal: AbortSignal): Promise<string> {
    signal.throwIfAborted();
    const client = new Ollama({ host: this.host, fetch: fetchWith(signal) });
    const stream = await client.chat({ model: this.model, messages: turns, stream: true });
    const stop = () => stream.abort();
    signal.addEventListener("abort", stop, { once: true });
    let text = "";
    try {
      // Tokens arrive one chunk at a time; the reply is posted only once it is whole.
      for await (const part of stream) text += part.message?.content ?? "";
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw err;
    } finally {
      signal.removeEventListener("abort", stop);
    }
    signal.throwIfAborted();
    // Cleaned as the Worker will clean it: a reply of only invisible characters fails here, not as a 400.
    const reply = cleanText(text);
    if (!reply) throw new Error(`Ollama model ${this.model} returned an empty reply`);
    return clip(reply, MAX_TEXT);
  }
}

export class OfflineResponder implements Responder {
  readonly kind = "offline";
  readonly author = OFFLINE_AUTHOR;
  readonly description = "the built-in offline responder (no Ollama)";

  async reply(turns: ChatTurn[], signal: AbortSignal): Promise<string> {
    signal.throwIfAborted();
    const last = turns.at(-1)?.content ?? "";
    const said = last.replace(/^[^:]*:\s*/, "");
    return clip(`[offline auto-reply: no language model is connected] I got your message: "${clip(said, 300)}"`, MAX_TEXT);
  }
}

export type Probe = { ok: true; version: string } | { ok: false; reason: string };

/** Is an Ollama server answering at `host`, and does it have `model`? */
export async function probeOllama(host: string, model: string, timeoutMs = 3000): Promise<Probe> {
  const client = new Ollama({ host, fetch: fetchWith(AbortSignal.timeout(timeoutMs)) });
  let version: string;
  try {
    version = (await client.version()).version;
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    return { ok: false, reason: `no Ollama server answers at ${host} (${cause})` };
  }
  try {
    const { models } = await client.list();
    const wanted = model.includes(":") ? [model] : [model, `${model}:latest`];
    if (!models.some((m) => wanted.includes(m.name) || wanted.includes(m.model))) {
      return { ok: false, reason: `Ollama ${version} at ${host} does not have the model "${model}"` };
    }
  } catch (err) {
    return { ok: false, reason: `Ollama at ${host} did not list its models (${(err as Error).message})` };
  }
  return { ok: true, version };
}

export class OllamaUnavailableError extends Error {}

/** Picks the responder at start: Ollama if it answers and has the model, else offline (or an error with --require-ollama). */
export async function chooseResponder(
  options: { ollamaHost: string; model: string; offline: boolean; requireOllama: boolean },
  log: (line: string) => void,
): Promise<Responder> {
  if (options.offline) {
    log("[Bot] --offline: answering with the built-in offline responder (replies marked \"bot (offline)\")");
    return new OfflineResponder();
  }
  const probe = await probeOllama(options.ollamaHost, options.model);
  if (probe.ok) {
    log(`[Bot] Using Ollama ${probe.version} at ${options.ollamaHost}, model ${options.model}`);
    return new OllamaResponder(options.ollamaHost, options.model);
  }
  const fix = `install Ollama (https://ollama.com/download) and run \`ollama pull ${options.model}\`, or set OLLAMA_HOST to a server that has it`;
  if (options.requireOllama) throw new OllamaUnavailableError(`[Bot] Ollama unavailable: ${probe.reason}. To fix: ${fix}. Exiting (--require-ollama).`);
  log(`[Bot] Ollama unavailable: ${probe.reason}. To fix: ${fix}. Until then the offline responder answers (replies marked "${OFFLINE_AUTHOR}").`);
  return new OfflineResponder();
}
