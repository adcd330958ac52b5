// What a room socket missed: every change after the newest position this client has
// seen, fetched page by page with `GET /api/comments?since=`. One copy for the page
// and the lab's tabs, so the lab measures the page's catch-up.
import { CACHE_SIZE, type PathMode, type Message } from "../shared/message";

export type ChangesPage = { comments: Message[]; mode: PathMode };

/** A change's position in its room (do mode): `pos`, else `seq`. */
export const positionOf = (message: Message): number | undefined => message.pos ?? message.seq;

/** A change pushed at `position` when `known` was the newest seen: true when one between was missed. */
export function missedChanges(position: number | undefined, known: number): boolean {
  return position !== undefined && known > 0 && position > known + 1;
}

export class CatchUp {
  private running = false;

  /**
   * @param fetchSince one page of changes after `since`
   * @param known the newest position seen; the caller's handling of each page moves it
   * @param onPage merges a page (and tells the verifier what it shows)
   */
  constructor(
    private readonly fetchSince: (since: number) => Promise<ChangesPage>,
    private readonly known: () => number,
    private readonly onPage: (page: ChangesPage) => void,
  ) {}

  /** Fetches until a short page or the room left do mode; one run at a time. Rejects as fetchSince does. */
  async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (;;) {
        const since = this.known();
        const page = await this.fetchSince(since);
        this.onPage(page);
        // A full page that moved nothing on would ask for the same page forever.
        if (page.comments.length < CACHE_SIZE || page.mode !== "do" || this.known() <= since) return;
      }
    } finally {
      this.running = false;
    }
  }
}
