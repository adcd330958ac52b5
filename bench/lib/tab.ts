// One simulated browser tab, behaving like the chat page (src/web/chat/app.ts): it
// loads the room, sends with a client-chosen id through the page's own sender
// (src/client/send-until-answered.ts: up the room socket in do mode, else POST),
// keeps every acknowledged id pending until a poll or a push shows it, heals the ids
// a list lacks, and polls on the page's cadence (src/shared/cadence.ts: 5–7 s;
// 1.5–2.5 s after a heal re-added something; 100–120 s while the do-mode socket is
// open and nothing is unverified).
import { IDLE_POLL_WITH_SOCKET_MS, POLL_MS, RECHECK_MS } from "../../src/shared/cadence";
import type { ServerFrame } from "../../src/shared/frames";
import { StreamView, type StreamFrame } from "../../src/shared/stream";
import { CACHE_SIZE, newMessageId, type CacheMode, type Message } from "../../src/shared/message";
import { sendUntilAnswered } from "../../src/client/send-until-answered";
import { SocketSender, type NackFrame } from "../../src/client/socket-send";
import { ChatClient, HttpError, type Listing } from "./api";
import { RoomSocket } from "./live";
import { jitter, now } from "./time";

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

export const PAGE_CADENCE: Cadence = { fast: [...POLL_MS], idleWithSocket: [...IDLE_POLL_WITH_SOCKET_MS], recheck: [...RECHECK_MS] };

/** The page's `?poll=<ms>` override: every interval becomes [ms, 1.4 ms), recheck at most that. */
export function cadenceFor(pollMs: number): Cadence {
  if (pollMs === POLL_MS[0]) return PAGE_CADENCE;
  return { fast: [pollMs, pollMs * 1.4], idleWithSocket: [pollMs, pollMs * 1.4], recheck: [Math.min(pollMs, 1_500), Math.min(pollMs, 2_500)] };
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
  mode?: CacheMode;
  /** the first evidence after the acknowledgement: in the list / pushed, or missing from a list */
  firstCheck?: "in" | "missing";
  healCalls: number;
  /** heals that the server answered with readded: true (a real loss put back) */
  healsReadded: number;
  verifiedAt?: number;
  verifiedBy?: "poll" | "push" | "heal" | "scrolled-out";
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
};

export class Tab {
  readonly own = new Map<string, OwnMessage>();
  /** Replies being written, as the page holds them: whole from hello, grown by stream frames, ended by their reply. */
  readonly streams = new StreamView();
  private readonly pending = new Set<string>();
  private readonly healing = new Set<string>();
  private readonly seenIds = new Set<string>();
  private readonly socket: RoomSocket;
  private readonly socketSends: SocketSender;
  private mode: CacheMode | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private polling: Promise<void> | null = null;
  private pollAgain = false;
  private healPausedUntil = 0;
  private stopped = false;
  /** Newest change position seen (do mode), the `since` of the next catch-up. */
  private lastPos = 0;
  private catchingUp = false;
  polls = 0;
  pollErrors = 0;

  constructor(private readonly options: TabOptions) {
    this.socket = new RoomSocket(
      options.client.socketUrl(options.room),
      (frame, at) => this.onFrame(frame, at),
      (open) => {
        if (!open) this.socketSends.dropped();
        this.schedule();
      },
    );
    this.socketSends = new SocketSender(this.socket);
  }

  get client(): ChatClient {
    return this.options.client;
  }
  get socketCounts() {
    return this.socket.counts;
  }
  get unverified(): number {
    return this.pending.size;
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
      clearTimeout(this.timer);
      const interval = this.socket.open ? this.options.cadence.idleWithSocket : this.options.cadence.fast;
      this.timer = setTimeout(() => void this.poll(), jitter(0, interval[1]));
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.socket.stop();
  }

  /** Sends one message as the page does; retries a failed send with the same id (the server answers the stored one). */
  async post(text: string): Promise<OwnMessage> {
    const id = newMessageId();
    const entry: OwnMessage = { id, createdAt: Date.now(), sentAt: now(), healCalls: 0, healsReadded: 0 };
    this.own.set(id, entry);
    const { room, author } = this.options;
    let httpMode: CacheMode | null = null;
    const result = await sendUntilAnswered(
      { id, room, text, author },
      {
        socket: () => (this.socket.acceptsSends ? this.socketSends : null),
        post: async (message) => {
          const answer = await this.client.postAnswered(message.room, message.text, author, message.id);
          httpMode = answer.mode;
          return answer.message;
        },
      },
      // Unlike the page, a lab tab gives up by default: a lab round has a deadline.
      { maxAttempts: this.options.maxSendAttempts ?? 5, cancelled: () => this.stopped },
    );
    if (!result.acked) {
      entry.error = result.reason;
      return entry;
    }
    entry.ackedAt = now();
    entry.createdAt = result.message.createdAt;
    entry.via = result.via;
    // Only a room in do mode answers a socket send.
    const mode = result.via === "socket" ? "do" : httpMode;
    if (mode) entry.mode = mode;
    if (this.seenIds.has(id)) {
      // Pushed before the send was even acknowledged: already seen in the room.
      this.verify(entry, "push", entry.ackedAt!);
    } else {
      this.pending.add(id);
      this.schedule();
    }
    return entry;
  }

  private verify(entry: OwnMessage, by: NonNullable<OwnMessage["verifiedBy"]>, at: number): void {
    if (entry.verifiedAt !== undefined) return;
    entry.firstCheck ??= "in";
    entry.verifiedAt = at;
    entry.verifiedBy = by;
    this.pending.delete(entry.id);
  }

  private onFrame(frame: ServerFrame, receivedAt: number): void {
    if (frame.type === "nack") this.options.events?.onNack?.(frame);
    if (this.socketSends.receive(frame)) return;
    // As the page: after a (re)connect, or a jump in change positions, catch up with `since`.
    if (frame.type === "hello" && this.lastPos > 0 && frame.lastSeq > this.lastPos) void this.catchUp();
    if (frame.type === "hello") this.streams.reset(frame.streams);
    if (frame.type === "stream") {
      this.streams.apply(frame);
      this.options.events?.onStream?.(frame, receivedAt);
    }
    if (frame.type === "message" || frame.type === "update") {
      const position = frame.message.pos ?? frame.message.seq ?? 0;
      const gap = this.lastPos > 0 && position > this.lastPos + 1;
      this.lastPos = Math.max(this.lastPos, position);
      if (gap) void this.catchUp();
      this.seenIds.add(frame.message.id);
      this.streams.settle(frame.message);
      this.options.events?.onPush?.(frame.message, receivedAt);
      const entry = this.own.get(frame.message.id);
      if (entry && this.pending.has(entry.id)) this.verify(entry, "push", receivedAt);
    } else if (frame.type === "mode" && frame.mode === "kv") {
      this.mode = "kv";
      this.socket.stop();
      void this.poll();
    }
  }

  /** What the socket missed: every change after the newest position seen, page by page (the page's catch-up). */
  private async catchUp(): Promise<void> {
    if (this.catchingUp) return;
    this.catchingUp = true;
    try {
      for (;;) {
        const listing = await this.client.list(this.options.room, CACHE_SIZE, this.lastPos);
        for (const message of listing.comments) {
          this.lastPos = Math.max(this.lastPos, message.pos ?? message.seq ?? 0);
          this.seenIds.add(message.id);
          const entry = this.own.get(message.id);
          if (entry && this.pending.has(entry.id)) this.verify(entry, "poll", listing.receivedAt);
        }
        if (listing.comments.length < CACHE_SIZE || listing.mode !== "do") break;
      }
    } catch {
      this.pollErrors++; // the next poll covers it
    } finally {
      this.catchingUp = false;
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
    clearTimeout(this.timer);
    let recheck = false;
    try {
      const limit = this.pending.size ? CACHE_SIZE : PAGE_SIZE;
      const listing = await this.client.list(this.options.room, limit);
      this.polls++;
      if (listing.lastSeq !== undefined) this.lastPos = Math.max(this.lastPos, listing.lastSeq);
      this.mode = listing.mode;
      this.options.events?.onListing?.(listing);
      recheck = await this.check(listing, limit);
      // Pushes exist only in do mode; kv rooms are polled.
      if (this.mode === "do" && this.options.push && !this.stopped) this.socket.start();
      else if (this.mode === "kv") this.socket.stop();
    } catch {
      this.pollErrors++;
    } finally {
      if (!this.pollAgain) this.schedule(recheck);
    }
  }

  /** The page's verifier: ids acked before the request and absent from the list are healed. */
  private async check(listing: Listing, limit: number): Promise<boolean> {
    const inList = new Set(listing.comments.map((m) => m.id));
    for (const id of inList) this.seenIds.add(id);
    const full = listing.comments.length >= limit;
    const oldest = listing.comments[0]?.createdAt ?? Infinity;
    const missing: OwnMessage[] = [];
    for (const id of [...this.pending]) {
      const entry = this.own.get(id)!;
      if (inList.has(id)) {
        this.verify(entry, "poll", listing.receivedAt);
        continue;
      }
      if (entry.ackedAt === undefined || entry.ackedAt > listing.requestedAt) continue;
      // Older than a full window: newer messages pushed it out, nothing was lost.
      if (full && entry.createdAt < oldest) {
        this.verify(entry, "scrolled-out", listing.receivedAt);
        continue;
      }
      entry.firstCheck ??= "missing";
      missing.push(entry);
    }
    const readded = await Promise.all(missing.map((entry) => this.heal(entry)));
    return readded.some(Boolean);
  }

  private async heal(entry: OwnMessage): Promise<boolean> {
    if (this.healing.has(entry.id) || Date.now() < this.healPausedUntil || this.stopped) return false;
    this.healing.add(entry.id);
    entry.healCalls++;
    try {
      const result = await this.client.heal(entry.id);
      if (result.readded) entry.healsReadded++;
      // The server found it already there: as good as seeing it.
      else this.verify(entry, "heal", now());
      return result.readded;
    } catch (err) {
      if (err instanceof HttpError && err.status === 429) this.healPausedUntil = Date.now() + (err.retryAfterMs ?? 60_000);
      return false;
    } finally {
      this.healing.delete(entry.id);
    }
  }

  private schedule(recheck = false): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const { fast, idleWithSocket, recheck: soon } = this.options.cadence;
    const [min, max] = recheck ? soon : this.socket.open && this.pending.size === 0 ? idleWithSocket : fast;
    this.timer = setTimeout(() => void this.poll(), jitter(min, max));
  }
}
