// Scroll-back (do rooms): loads the page of messages logged before the oldest one shown,
// back to the room's first. Pages go into the store only: they are history, not our own
// sends, so the verifier never sees them and nothing in them is verified again.
import { describeError } from "../../client/http";
import { listComments } from "./api";
import type { MessageStore } from "./messages";

/** idle: more may be older; start: the room's first message is shown; failed: the last page did not load. */
export type HistoryState = { kind: "idle" | "loading" | "start" } | { kind: "failed"; reason: string };

export const HISTORY_PAGE = 50;

export class ScrollBack {
  private state: HistoryState = { kind: "idle" };

  constructor(
    private readonly room: string,
    private readonly store: MessageStore,
    private readonly onState: (state: HistoryState) => void,
  ) {}

  get current(): HistoryState {
    return this.state;
  }

  /** Loads one older page; resolves true when it added messages. */
  async loadOlder(apply: (merge: () => void) => void): Promise<boolean> {
    if (this.state.kind === "loading" || this.state.kind === "start") return false;
    const before = this.store.oldestSeq();
    // Nothing from the room's log yet (first load pending, or a kv room): nothing to page from.
    if (before === null) return false;
    if (before <= 1) {
      this.set({ kind: "start" });
      return false;
    }
    this.set({ kind: "loading" });
    try {
      const { body } = await listComments(this.room, { limit: HISTORY_PAGE, before });
      let added = false;
      apply(() => {
        added = this.store.merge(body.comments, true);
        this.set(body.more === false ? { kind: "start" } : { kind: "idle" });
      });
      return added;
    } catch (err) {
      this.set({ kind: "failed", reason: describeError(err) });
      return false;
    }
  }

  private set(state: HistoryState): void {
    this.state = state;
    this.onState(state);
  }
}
