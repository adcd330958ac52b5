// When the next poll runs. After a poll the next one is scheduled afresh; an event in
// between (an acknowledgement, the socket opening or closing) may bring it forward but
// never push it back, so a client that keeps posting still polls on its cadence.
// Shared by the page and the lab's tabs.

export class PollTimer {
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** when the scheduled poll runs (the clock given); Infinity when none is */
  private dueAt = Infinity;

  constructor(
    private readonly poll: () => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Replaces the scheduled poll with one in `delayMs`. */
  in(delayMs: number): void {
    clearTimeout(this.timer);
    this.dueAt = this.now() + delayMs;
    this.timer = setTimeout(() => {
      this.dueAt = Infinity;
      this.poll();
    }, delayMs);
  }

  /** A poll within `delayMs`: the scheduled one if it comes sooner, else one in `delayMs`. */
  noLaterThan(delayMs: number): void {
    if (this.now() + delayMs < this.dueAt) this.in(delayMs);
  }

  /** No poll is scheduled (one is running, or the client closed). */
  cancel(): void {
    clearTimeout(this.timer);
    this.dueAt = Infinity;
  }
}
