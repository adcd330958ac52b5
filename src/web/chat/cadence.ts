// How long until the next poll. Polling is the kv-mode path and the fallback when
// the socket is down (5–7 s, jittered); with the socket open the page polls rarely
// (one request per 100–120 s), except while its own messages still await verification.
import { IDLE_POLL_WITH_SOCKET_MS, POLL_MS, RECHECK_MS } from "../../shared/cadence";
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
    const fast = this.override ?? POLL_MS[0];
    if (recheck) return jitter(Math.min(fast, RECHECK_MS[0]), Math.min(fast, RECHECK_MS[1]));
    if (this.override) return jitter(this.override, this.override * 1.4);
    return socketOpen && !unverified ? jitter(...IDLE_POLL_WITH_SOCKET_MS) : jitter(...POLL_MS);
  }
}
