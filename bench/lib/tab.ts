// One simulated browser tab, built from the chat page's own client code
// (src/web/chat/app.ts uses the same parts): it loads the room, sends with a
// client-chosen id through the page's sender (src/client/send-until-answered.ts: up
// the room socket in do mode, else POST), verifies with the page's verifier
// (src/client/verifier.ts: pending until a poll or a push shows it, heal the ids a
// list lacks), catches up with `since` after a gap (src/client/catch-up.ts), and
// polls on the page's cadence (src/shared/cadence.ts: 5–7 s; 1.5–2.5 s after a heal
// re-added something; 100–120 s while the do-mode socket is open and nothing is
// unverified) through the page's timer (src/client/poll-timer.ts).
import { IDLE_POLL_WITH_SOCKET_MS, POLL_MS, RECHECK_MS } from "../../src/shared/cadence";
import type { HealResponse } from "../../src/shared/api";
import type { ServerFrame } from "../../src/shared/frames";
import { StreamView, type StreamFrame } from "../../src/shared/stream";
import { CACHE_SIZE, newMessageId, type PathMode, type Message } from "../../src/shared/message";
import { CatchUp, missedChanges, positionOf } from "../../src/client/catch-up";
import { MemoryPendingIds } from "../../src/client/pending-ids";
import { PollTimer } from "../../src/client/poll-timer";
import { sendUntilAnswered } from "../../src/client/send-until-answered";
import { SocketSender, type NackFrame } from "../../src/client/socket-send";
import { Verifier, type FirstCheck, type VerifiedBy } from "../../src/client/verifier";
import type { HistoryRecorder } from "../check/recorder";
import { ChatClient, HttpError, type Listing } from "./api";
import { RoomSocket } from "./live";
import { jitter, now } from "./time";

/** A refusal for good (a 4xx but 408 and 429): not applied. A 5xx, even a final one, leaves it unknown. */
export function isFinalRefusal(status: number): boolean {
  return status < 500 && new HttpError(status, "").isRejection;
}

/** The page loads this many messages when it has nothing to verify. */
export const PAGE_SIZE = 50;

export type Cadence = {
  /** polling interval [min, max) ms: the page's 5–7 s */
  fast: [number, number];
  /** with the socket open and nothing to verify: the page's rare safety poll */
  idleWithSocket: [number, number];
  /** right after a heal re-added something: the page's 1.5–2.5 s */
  recheck: [number, number];
};

export const PAGE_CADENCE: Cadence = {
  fast: [...POLL_MS],
  idleWithSocket: [...IDLE_POLL_WITH_SOCKET_MS],
  recheck: [...RECHECK_MS],
};

/** The page's `?poll=<ms>` override: every interval becomes [ms, 1.4 ms), recheck at most that. */
export function cadenceFor(pollMs: number): Cadence {
  if (pollMs === POLL_MS[0]) return PAGE_CADENCE;
  return {
    fast: [pollMs, pollMs * 1.4],
    idleWithSocket: [pollMs, pollMs * 1.4],
    recheck: [Math.min(pollMs, 1_500), Math.min(pollMs, 2_500)],
  };
}

/** What happened to one message this tab posted. Times are wall-clock ms (time.ts now()). */
export type OwnMessage = {
  id: string;
  /** the Worker's timestamp once acknowledged (until then, ours) */
  createdAt: number;
  sentAt: number;
  ackedAt?: number;
  /** the path of the acknowledged attempt: the room socket (do mode) or POST /api/comments */
  via?: "socket" | "http";
  /** the mode that acknowledged it: do for a socket ack, else the answer's X-Cache-Mode */
  mode?: PathMode;
  /** the first evidence after the acknowledgement (src/client/verifier.ts, FirstCheck) */
  firstCheck?: FirstCheck;
  healCalls: number;
  /** heals that the server answered with readded: true (a real loss put back) */
  healsReadded: number;
  /** when the checks ended: seen, or pushed out of the list's window */
  verifiedAt?: number;
  verifiedBy?: VerifiedBy | "out-of-window";
  /** the post failed, or a heal got a final refusal */
  error?: string;
};

export type TabEvents = {
  /** every list this tab fetched */
  onListing?(listing: Listing): void;
  /** every message or update pushed to this tab */
  onPush?(message: Message, receivedAt: number): void;
  /** every stream frame (a reply being written) pushed to this tab, after it was applied to `streams` */
  onStream?(frame: StreamFrame, receivedAt: number): void;
  /** every refusal of a send over the socket (the HTTP ones reach the client's onError) */
  onNack?(nack: NackFrame): void;
};

export type TabOptions = {
  client: ChatClient;
  room: string;
  author: string;
  cadence: Cadence;
  /** open the room's WebSocket when the room is in do mode, as the page does */
  push: boolean;
  events?: TabEvents;
  /** failed sends before post() gives up (default 5: a lab round has a deadline); Infinity: never, as the page */
  maxSendAttempts?: number;
  /** records every send and heal as an operation of a checked history (bench/check), as `process` */
  history?: { recorder: HistoryRecorder; process: string };
};

export class Tab {
  readonly own = new Map<string, OwnMessage>();
  /** Replies being written, as the page holds them: whole from hello, grown by stream frames, ended by their reply. */
  readonly streams = new StreamView();
  private readonly verifier: Verifier;
  private readonly catchUps: CatchUp;
  private readonly socket: RoomSocket;
  private readonly socketSends: SocketSender;
  private readonly timer = new PollTimer(() => void this.poll(), now);
  private mode: PathMode | null = null;
  private polling: Promise<void> | null = null;
  private pollAgain = false;
  private stopped = false;
  /** Newest change position seen (do mode), the `since` of the next catch-up. */
  private lastPos = 0;
  /** The last refusal of each send in flight (HTTP error or nack): what its outcome was, if it fails. */
  private readonly refusals = new Map<string, { status: number; mode: PathMode | null }>();
  polls = 0;
  pollErrors = 0;

  constructor(private readonly options: TabOptions) {
    this.socket = new RoomSocket(
      options.client.socketUrl(options.room),
      (frame, at) => this.onFrame(frame, at),
      (open) => {
        if (!open) this.socketSends.dropped();
        // As the page: an open socket is the path (idle cadence); a closed one, poll soon.
        if (open && !this.stopped) this.timer.in(this.nextDelay(false));
        else this.timer.noLaterThan(this.nextDelay(false));
      },
    );
    this.socketSends = new SocketSender(this.socket);
    const record = (id: string) => this.own.get(id);
    this.verifier = new Verifier(new MemoryPendingIds(), {
      heal: (entry) => this.heal(entry.id),
      now,
      events: {
        onFirstCheck: (entry, result) => (record(entry.id)!.firstCheck ??= result),
        onVerified: (entry, by) => this.checksEnded(entry.id, by),
        onOutOfWindow: (entry) => this.checksEnded(entry.id, "out-of-window"),
        onHeal: (entry) => record(entry.id)!.healCalls++,
        onReadded: (entry) => record(entry.id)!.healsReadded++,
        onGaveUp: (entry, reason) => (record(entry.id)!.error = `heal refused: ${reason}`),
      },
    });
    this.catchUps = new CatchUp(
      (since) => this.client.list(options.room, CACHE_SIZE, since),
      () => this.lastPos,
      (listing) => {
        for (const message of listing.comments) this.lastPos = Math.max(this.lastPos, positionOf(message) ?? 0);
        this.verifier.seen(
          listing.comments.map((m) => m.id),
          "poll",
        );
      },
    );
  }

  get client(): ChatClient {
    return this.options.client;
  }
  get socketCounts() {
    return this.socket.counts;
  }
  get unverified(): number {
    return this.verifier.size;
  }
  get socketOpen(): boolean {
    return this.socket.open;
  }

  /**
   * Loads the room like a page load; in do mode also waits (up to 10 s) for the socket's hello.
   * `randomPhase`: the next poll comes anywhere in the first interval, as for a page that has
   * been open a while, instead of every tab opened together polling in step.
   */
  async open({ randomPhase = false } = {}): Promise<void> {
    await this.poll();
    if (this.mode === "do" && this.options.push) await this.socket.opened(10_000);
    if (randomPhase && !this.stopped) {
      const interval = this.socket.open ? this.options.cadence.idleWithSocket : this.options.cadence.fast;
      this.timer.in(jitter(0, interval[1]));
    }
  }

  stop(): void {
    this.stopped = true;
    this.timer.cancel();
    this.socket.stop();
  }

  /** Sends one message as the page does; retries a failed send with the same id (the server answers the stored one). */
  async post(text: string): Promise<OwnMessage> {
    const id = newMessageId();
    const entry: OwnMessage = { id, createdAt: Date.now(), sentAt: now(), healCalls: 0, healsReadded: 0 };
    this.own.set(id, entry);
    const { room, author, history } = this.options;
    const process = history?.process ?? "";
    const op = history?.recorder.invoke({ type: "send", process, room, id, kind: "human", mode: this.mode });
    try {
      await this.send(entry, text);
    } finally {
      const refusal = this.refusals.get(id);
      this.refusals.delete(id);
      // Jepsen's outcomes: a final 4xx is fail (not applied); no answer, a 5xx or giving up is info.
      if (entry.ackedAt !== undefined) op?.complete("ok", { mode: entry.mode ?? null });
      else if (refusal && isFinalRefusal(refusal.status)) op?.complete("fail", refusal);
      else op?.complete("info", refusal ?? {});
    }
    return entry;
  }

  private async send(entry: OwnMessage, text: string): Promise<void> {
    const { id } = entry;
    const { room, author } = this.options;
    let httpMode: PathMode | null = null;
    const result = await sendUntilAnswered(
      { id, room, text, author },
      {
        socket: () => (this.socket.acceptsSends ? this.socketSends : null),
        post: async (message) => {
          try {
            const answer = await this.client.postAnswered(message.room, message.text, author, message.id);
            httpMode = answer.mode;
            return answer.message;
          } catch (err) {
            this.refusals.set(id, { status: err instanceof HttpError ? err.status : 0, mode: this.mode });
            throw err;
          }
        },
      },
      // Unlike the page, a lab tab gives up by default: a lab round has a deadline.
      { maxAttempts: this.options.maxSendAttempts ?? 5, cancelled: () => this.stopped },
    );
    if (!result.acked) {
      entry.error = result.reason;
      return;
    }
    entry.ackedAt = now();
    entry.createdAt = result.message.createdAt;
    entry.via = result.via;
    // Only a room in do mode answers a socket send.
    const mode = result.via === "socket" ? "do" : httpMode;
    if (mode) entry.mode = mode;
    // false: pushed (or listed) before the send was even acknowledged, already verified.
    // An ack never pushes the next poll back (the page's rule).
    if (this.verifier.add({ id, room, createdAt: entry.createdAt, ackedAt: entry.ackedAt }))
      this.timer.noLaterThan(this.nextDelay(false));
  }

  /** POST /api/admin/add-to-cache, recorded as a heal operation when the tab keeps a history. */
  private async heal(id: string): Promise<HealResponse> {
    const { history, room } = this.options;
    const op = history?.recorder.invoke({ type: "heal", process: history.process, room, id, mode: this.mode });
    try {
      const answer = await this.client.heal(id, room);
      op?.complete("ok", { mode: answer.mode, readded: answer.readded });
      return answer;
    } catch (err) {
      const status = err instanceof HttpError ? err.status : 0;
      op?.complete(isFinalRefusal(status) ? "fail" : "info", { status });
      throw err;
    }
  }

  private checksEnded(id: string, by: NonNullable<OwnMessage["verifiedBy"]>): void {
    const entry = this.own.get(id)!;
    entry.verifiedAt ??= now();
    entry.verifiedBy ??= by;
  }

  private onFrame(frame: ServerFrame, receivedAt: number): void {
    if (frame.type === "nack") {
      this.options.events?.onNack?.(frame);
      if (this.own.has(frame.id)) this.refusals.set(frame.id, { status: frame.status, mode: frame.mode ?? "do" });
    }
    if (this.socketSends.receive(frame)) return;
    // As the page: after a (re)connect, or a jump in change positions, catch up with `since`.
    if (frame.type === "hello" && this.lastPos > 0 && frame.lastPos > this.lastPos) void this.catchUp();
    if (frame.type === "hello") this.streams.reset(frame.streams);
    if (frame.type === "stream") {
      this.streams.apply(frame);
      this.options.events?.onStream?.(frame, receivedAt);
    }
    if (frame.type === "message" || frame.type === "update") {
      const position = positionOf(frame.message);
      const gap = missedChanges(position, this.lastPos);
      this.lastPos = Math.max(this.lastPos, position ?? 0);
      if (gap) void this.catchUp();
      this.streams.settle(frame.message);
      this.options.events?.onPush?.(frame.message, receivedAt);
      // Our last pending id just arrived: back to the rare poll at once (the page's rule).
      if (this.verifier.seen([frame.message.id], "push") && this.verifier.size === 0) this.schedule();
    } else if (frame.type === "mode" && frame.mode === "kv") {
      this.mode = "kv";
      this.socket.stop();
      void this.poll();
    }
  }

  /** What the socket missed: the page's catch-up (src/client/catch-up.ts). */
  private async catchUp(): Promise<void> {
    try {
      await this.catchUps.run();
    } catch {
      this.pollErrors++; // the next poll covers it
    }
  }

  /** A full poll: fetch, mark seen ids, heal the missing ones, schedule the next. */
  poll(): Promise<void> {
    if (this.polling) {
      this.pollAgain = true;
      return this.polling;
    }
    this.polling = this.pollOnce().finally(() => {
      this.polling = null;
      if (this.pollAgain && !this.stopped) {
        this.pollAgain = false;
        void this.poll();
      }
    });
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    this.timer.cancel();
    let recheck = false;
    try {
      const limit = this.verifier.size ? CACHE_SIZE : PAGE_SIZE;
      const listing = await this.client.list(this.options.room, limit);
      this.polls++;
      if (listing.lastPos !== undefined) this.lastPos = Math.max(this.lastPos, listing.lastPos);
      this.mode = listing.mode;
      this.options.events?.onListing?.(listing);
      // A closed tab makes no more heal calls.
      if (!this.stopped)
        recheck = await this.verifier.check(this.options.room, listing.comments, listing.requestedAt, limit);
      // Pushes exist only in do mode; kv rooms are polled.
      if (this.mode === "do" && this.options.push && !this.stopped) this.socket.start();
      else if (this.mode === "kv") this.socket.stop();
    } catch {
      this.pollErrors++;
    } finally {
      if (!this.pollAgain) this.schedule(recheck);
    }
  }

  private schedule(recheck = false): void {
    if (!this.stopped) this.timer.in(this.nextDelay(recheck));
  }

  private nextDelay(recheck: boolean): number {
    const { fast, idleWithSocket, recheck: soon } = this.options.cadence;
    const [min, max] = recheck ? soon : this.socket.open && this.verifier.size === 0 ? idleWithSocket : fast;
    return jitter(min, max);
  }
}
