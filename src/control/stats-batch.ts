// Stats events leave an isolate (or a Room object) in batches: one Control DO call
// every FLUSH_MS instead of one per post, so the single global counter object never
// throttles writes. The caller's waitUntil holds the flush its event rides in, so an
// event is only lost if the isolate crashes in that window.
import type { StatEvent } from "./control";
import { KV_COUNT_NAMES, noKvCounts } from "../shared/usage";

export const FLUSH_MS = 250;

let queued: StatEvent[] = [];
let flushing: Promise<void> | null = null;

export function recordStat(env: Env, waitUntil: (promise: Promise<unknown>) => void, event: StatEvent): void {
  queued.push(event);
  flushing ??= new Promise<void>((resolve) => setTimeout(resolve, FLUSH_MS)).then(() => flush(env));
  waitUntil(flushing);
}

async function flush(env: Env): Promise<void> {
  const batch = mergeUsage(queued);
  queued = [];
  flushing = null;
  try {
    await env.CONTROL.getByName("global").record(batch);
  } catch (err) {
    console.log(JSON.stringify({ event: "stats-error", lost: batch.length, error: String(err) }));
  }
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
