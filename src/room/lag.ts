// How long KV records trail their messages: the newest samples of (put done − queued),
// kept in memory for the operator and the bench (a restart starts them afresh).
const KEEP = 20_000;

export type LagSummary = { p50: number; p99: number; max: number; samples: number };

export class LagSamples {
  // A ring: adding is O(1) however many samples are kept.
  private readonly samples: number[] = [];
  private next = 0;

  add(ms: number): void {
    if (this.samples.length < KEEP) this.samples.push(ms);
    else this.samples[this.next] = ms;
    this.next = (this.next + 1) % KEEP;
  }

  summary(): LagSummary {
    const sorted = [...this.samples].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? 0, samples: sorted.length };
  }
}
