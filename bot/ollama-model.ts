// Whether the Ollama server has the model (and whether it can think), and pulling it when
// BOT_PULL=1 allows, with progress lines. A model that is not pulled never crashes the bot.
import type { Ollama } from "ollama";

export type ModelCheck = { present: true; canThink: boolean } | { present: false };

/** The 404 Ollama answers for a model it does not have (chat: "model … not found, try pulling it first"). */
export function isModelMissing(err: unknown): boolean {
  return (err as { status_code?: number }).status_code === 404;
}

/** `ollama show`: 404 when the model is not pulled; `capabilities` (Ollama ≥ 0.6) names "thinking". */
export async function checkModel(client: Ollama, model: string): Promise<ModelCheck> {
  try {
    const shown = await client.show({ model });
    return { present: true, canThink: (shown.capabilities ?? []).includes("thinking") };
  } catch (err) {
    if (isModelMissing(err)) return { present: false };
    throw err;
  }
}

export function pullHint(model: string): string {
  return `run \`ollama pull ${model}\` on the Ollama machine, or start the bot with BOT_PULL=1 (--pull) to pull it`;
}

/** Pulls `model`, logging each stage and every further 10% of each layer. Throws with Ollama's reason on failure. */
export async function pullModel(
  client: Ollama,
  model: string,
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  log(`[Bot] Pulling ${model} (BOT_PULL=1)…`);
  const stream = await client.pull({ model, stream: true });
  const stop = () => stream.abort();
  signal?.addEventListener("abort", stop, { once: true });
  let last = "";
  try {
    for await (const part of stream) {
      // A layer reports its bytes many times a second: one line per stage and per 10% is enough.
      const size = part.total
        ? ` ${Math.floor((10 * (part.completed ?? 0)) / part.total) * 10}% of ${megabytes(part.total)}`
        : "";
      const line = `[Bot] Pull ${model}: ${part.status}${size}`;
      if (line === last) continue;
      last = line;
      log(line);
    }
  } finally {
    signal?.removeEventListener("abort", stop);
  }
  log(`[Bot] Pulled ${model}`);
}

function megabytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${Math.max(1, Math.round(bytes / 1e6))} MB`;
}
