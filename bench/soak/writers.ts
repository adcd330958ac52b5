// The writers: one page-like tab each (bench/lib/tab.ts: the page's sender, pending ids
// kept until seen, polls, heals), spread over the rooms, each posting its share of the
// messages at a steady pace. A tab resends with the same id until the Worker answers,
// as the page does (no attempt limit): through 5xx, 503s and a killed Worker.
import type { HistoryRecorder } from "../check/recorder";
import { ChatClient } from "../lib/api";
import { Tab, type Cadence, type OwnMessage } from "../lib/tab";
import { now, sleep } from "../lib/time";
import { VisibilityLog } from "../race/visibility";
import { installBrowserLikeWebSocket } from "./browser-like-websocket";
import type { FailureTally } from "./failures";

export type WriterSettings = {
  url: string;
  rooms: string[];
  writers: number;
  posts: number;
  /** the posts are spread over this long */
  durationMs: number;
  cadence: Cadence;
  failures: FailureTally;
  /** records every send and heal as an operation of the run's history */
  recorder?: HistoryRecorder;
};

export type PostedMessage = OwnMessage & { room: string; writer: number };

type Writer = { tab: Tab; room: string; index: number; quota: number };

export class Writers {
  /** every message and list any tab received */
  readonly seen = new VisibilityLog();
  private readonly writers: Writer[];
  private readonly stopper = new AbortController();

  constructor(private readonly settings: WriterSettings) {
    const { writers, posts, rooms, url, cadence, failures, recorder } = settings;
    // The page's socket client as it runs in a browser (see browser-like-websocket.ts).
    installBrowserLikeWebSocket();
    this.writers = Array.from({ length: writers }, (_, index) => {
      const room = rooms[index % rooms.length]!;
      const client = new ChatClient(url, {}, undefined, {
        // One address per page, as in production: the heal limit is per address.
        headers: { "cf-connecting-ip": `10.77.${Math.floor(index / 250)}.${(index % 250) + 1}` },
        onError: (_kind, err) => failures.add("writers", room, err.status),
      });
      const tab = new Tab({
        client,
        room,
        author: `writer ${index + 1}`,
        cadence,
        push: true,
        maxSendAttempts: Number.POSITIVE_INFINITY,
        events: { ...this.seen.events, onNack: (nack) => failures.add("writers", room, nack.status, nack.mode) },
        ...(recorder ? { history: { recorder, process: `writer-${index + 1}` } } : {}),
      });
      // Shares as even as they go: the first `posts % writers` writers post one more.
      const quota = Math.floor(posts / writers) + (index < posts % writers ? 1 : 0);
      return { tab, room, index, quota };
    });
  }

  /** Every tab loads its room (and opens its socket in a do room), at its own phase. */
  async open(): Promise<void> {
    await Promise.all(this.writers.map((w) => w.tab.open({ randomPhase: true })));
  }

  /** Posts every writer's share, spread over the duration; resolves when all are answered or posting stopped. */
  async post(): Promise<void> {
    const start = now();
    await Promise.all(this.writers.map((w) => this.postShare(w, start)));
  }

  /** No new posts; the ones on their way still get their answer. */
  stopPosting(): void {
    this.stopper.abort();
  }

  /** Acknowledged messages some tab has not yet seen in its room. */
  get unverified(): number {
    return this.writers.reduce((sum, w) => sum + w.tab.unverified, 0);
  }

  get messages(): PostedMessage[] {
    return this.writers.flatMap((w) =>
      [...w.tab.own.values()].map((m) => ({ ...m, room: w.room, writer: w.index + 1 })),
    );
  }

  /** Requests the tabs made: posts (HTTP and socket sends), polls, heals. */
  get requests(): { posts: number; socketSends: number; polls: number; heals: number } {
    const sum = (pick: (w: Writer) => number) => this.writers.reduce((total, w) => total + pick(w), 0);
    return {
      posts: sum((w) => w.tab.client.counter.counts.post),
      socketSends: sum((w) => w.tab.socketCounts.sends),
      polls: sum((w) => w.tab.client.counter.counts.poll),
      heals: sum((w) => w.tab.client.counter.counts.heal),
    };
  }

  /** Whether some tab received `id` (a list or a push). */
  sawMessage(id: string): boolean {
    return this.seen.firstSeen.has(id);
  }

  stop(): void {
    this.stopper.abort();
    for (const w of this.writers) w.tab.stop();
  }

  private async postShare(writer: Writer, start: number): Promise<void> {
    const { signal } = this.stopper;
    const slot = this.settings.durationMs / writer.quota;
    for (let k = 0; k < writer.quota && !signal.aborted; k++) {
      // One post somewhere in each slot; a writer held up by an outage catches up.
      await sleep(start + (k + Math.random()) * slot - now(), signal);
      if (signal.aborted) break;
      await writer.tab.post(`soak: ${writer.room}, writer ${writer.index + 1}, message ${k + 1} of ${writer.quota}`);
    }
  }
}
