// How long until the next poll. Polling is the kv-mode path and the fallback when
// the socket is down (5–7 s, jittered); with the socket open the page polls rarely
// (one request per 40–50 s), except while its own messages still await verification.
import { jitter } from "../dom";

export type CadenceInput = {
  socketOpen: boolean;
  /** own messages acknowledged but not yet seen */
  unverified: boolean;
  /** a heal just re-added something: confirm it soon */
  recheck: boolean;
};

export class Cadence {
  /** `override` (ms, from ?poll=) replaces both intervals, for tests. */
  constructor(private readonly override: number | null = null) {}

  nextDelay({ socketOpen, unverified, recheck }: CadenceInput): number {
    const fast = this.override ?? 5_000;
    if (recheck) return jitter(Math.min(fast, 1_500), Math.min(fast, 2_500));
    if (socketOpen && !unverified) return this.override ? jitter(this.override, this.override * 1.4) : jitter(40_000, 50_000);
    return this.override ? jitter(this.override, this.override * 1.4) : jitter(5_000, 7_000);
  }
}
