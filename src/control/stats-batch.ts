// Stats events leave an isolate (or a Room object) in batches: one Control DO call
// every FLUSH_MS instead of one per post, so the single global counter object never
// throttles writes. The call that opens a batch holds its flush in its waitUntil, so an
// event is only lost if the isolate crashes in that window.
import type { StatEvent } from "./control";
import { KV_COUNT_NAMES, noKvCounts } from "../shared/usage";

export const FLUSH_MS = 250;

/**
 * One batch: its queue, and whether a flush is on its way. The Worker has one per isolate;
 * each Durable Object keeps its own. No promise is shared: the call that opens a batch
 * holds its own timer in its own waitUntil and sends everything queued by then; later
 * calls only queue. (A promise made in one request's context and awaited in another's is
 * refused by workerd, which cancelled it and once reset a Room, dropping its sockets.)
 */
export class StatsBatch {
  private queued: StatEvent[] = [];
  /** when the open batch's flush is due; null when none is on its way */
  private flushDueAt: number | null = null;

  record(env: Env, waitUntil: (promise: Promise<unknown>) => void, event: StatEvent): void {
    this.queued.push(event);
    // A flush whose owner was cancelled before it ran must not hold the queue forever.
    if (this.flushDueAt !== null && Date.now() < this.flushDueAt + STALE_FLUSH_MS) return;
    this.flushDueAt = Date.now() + FLUSH_MS;
    waitUntil(new Promise<void>((resolve) => setTimeout(resolve, FLUSH_MS)).then(() => this.flush(env)));
  }

  private async flush(env: Env): Promise<void> {
    const batch = mergeUsage(this.queued);
    this.queued = [];
    this.flushDueAt = null;
    if (!batch.length) return;
    try {
      await env.CONTROL.getByName("global").record(batch);
    } catch (err) {
      console.log(JSON.stringify({ event: "stats-error", lost: batch.length, error: String(err) }));
    }
  }
}

/** A flush this late did not run (its request was cancelled): the next event opens a new one. */
const STALE_FLUSH_MS = 10_000;

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
