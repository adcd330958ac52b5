// Stats events leave an isolate (or a Room object) in batches: one Control DO call
// every FLUSH_MS instead of one per post, so the single global counter object never
// throttles writes. The caller's waitUntil holds the flush its event rides in, so an
// event is only lost if the isolate crashes in that window.
import type { StatEvent } from "./control";
import { KV_COUNT_NAMES, noKvCounts } from "../shared/usage";

export const FLUSH_MS = 250;

/**
 * One batch: its queue and the flush it rides in. The Worker has one per isolate; each
 * Durable Object keeps its own, because a promise made in one object's (or request's)
 * context must not be awaited in another's: workerd cancels it when its owner ends,
 * and a Room that held such a flush was reset, dropping every socket (found by the bench).
 */
export class StatsBatch {
  private queued: StatEvent[] = [];
  private flushing: Promise<void> | null = null;

  record(env: Env, waitUntil: (promise: Promise<unknown>) => void, event: StatEvent): void {
    this.queued.push(event);
    this.flushing ??= new Promise<void>((resolve) => setTimeout(resolve, FLUSH_MS)).then(() => this.flush(env));
    waitUntil(this.flushing);
  }

  private async flush(env: Env): Promise<void> {
    const batch = mergeUsage(this.queued);
    this.queued = [];
    this.flushing = null;
    try {
      await env.CONTROL.getByName("global").record(batch);
    } catch (err) {
      console.log(JSON.stringify({ event: "stats-error", lost: batch.length, error: String(err) }));
    }
  }
}

/** The Worker's batch (one per isolate). */
const workerBatch = new StatsBatch();

/** Records a stats event from Worker code; a Durable Object uses its own StatsBatch. */
export function recordStat(env: Env, waitUntil: (promise: Promise<unknown>) => void, event: StatEvent): void {
  workerBatch.record(env, waitUntil, event);
}

/** Usage events of one batch become one per mode: the Control object writes a few rows per batch, not per request. */
function mergeUsage(events: StatEvent[]): StatEvent[] {
  const merged = new Map<string, Extract<StatEvent, { type: "usage" }>>();
  const rest: StatEvent[] = [];
  for (const event of events) {
    if (event.type !== "usage") {
      rest.push(event);
      continue;
    }
    const into = merged.get(event.mode) ?? { type: "usage", mode: event.mode, kv: noKvCounts() };
    for (const name of KV_COUNT_NAMES) into.kv[name] += event.kv[name];
    merged.set(event.mode, into);
  }
  return [...rest, ...merged.values()];
}
