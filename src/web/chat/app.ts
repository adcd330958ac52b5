// The chat page's controller: loads the room, keeps it current (push in do mode,
// polling otherwise), sends messages and verifies every acknowledged one.
import { CACHE_SIZE, newMessageId, type PathMode, type Message, type Reaction } from "../../shared/message";
import { BOT_AWAY_MS, TYPING_EVERY_MS, TYPING_SHOWN_MS } from "../../shared/cadence";
import type { Presence, ServerFrame } from "../../shared/frames";
import { StreamView } from "../../shared/stream";
import { CatchUp, missedChanges, positionOf } from "../../client/catch-up";
import { describeError } from "../../client/http";
import { PollTimer } from "../../client/poll-timer";
import { SocketSender } from "../../client/socket-send";
import { Verifier } from "../../client/verifier";
import { editMessage, healMessage, listComments, messageVersions, reactTo, regenerateAnswer } from "./api";
import type { RowActions, RowExtras } from "./message-actions";
import { OwnKeys, randomKey } from "./own-keys";
import { Cadence } from "./cadence";
import { ScrollBack } from "./history";
import { roomSocket, type LiveSocket } from "./live";
import { MessageStore } from "./messages";
import { PENDING_KEY, PendingStore, type PendingEntry } from "./pending";
import { ReadingPlace } from "./reading";
import { sendAndReport } from "./sender";
import type { MessageListView, OwnState, Row } from "./view";

/** Messages shown on load and refreshed by polls; pending ids widen the window to the whole cache. */
const PAGE_SIZE = 50;

export const SLOW_DOWN_NOTICE = "Sending too fast — slowing down… your messages go out as soon as the server allows.";

export type ChatUi = {
  list: MessageListView;
  showMode(mode: PathMode | null, delivery: "live" | "polling" | "connecting"): void;
  /** a problem reaching the server, or null when it is over */
  showNotice(text: string | null): void;
  /** the server refused a message: show why, and give its text back */
  showRejected(text: string, reason: string): void;
  /** who is here (null: not known, e.g. a kv room or no socket); bots already aged */
  showPresence(presence: Presence | null): void;
  /** the names typing now (empty: nobody) */
  showTyping(names: string[]): void;
  /** messages from others the reader has not seen; `hidden`: the tab is in the background */
  showUnseen(count: number, where: { hidden: boolean; atBottom: boolean }): void;
};

export class ChatApp {
  private readonly store = new MessageStore();
  /** AI replies being written (do rooms, from the socket): hello gives them whole, stream frames grow them. */
  private readonly streams = new StreamView();
  private readonly pending = new PendingStore();
  private readonly own = new Map<string, OwnState>();
  /** our own messages as sent, shown until (and even after) the room's list has them */
  private readonly ownCopies = new Map<string, Message>();
  private readonly verifier: Verifier<PendingEntry>;
  private readonly catchUps: CatchUp;
  private readonly live: LiveSocket;
  private readonly socketSends: SocketSender;
  private readonly history: ScrollBack;
  private mode: PathMode | null = null;
  private readonly polls = new PollTimer(() => void this.refresh());
  private refreshing = false;
  private refreshAgain = false;
  /** The room's last word on who is here, and when it came (bots are aged from then). */
  private presence: { value: Presence; at: number } | null = null;
  /** Who is typing, until when. */
  private readonly typers = new Map<string, number>();
  private name: string | undefined;
  private typedAt = 0;
  private readonly reading: ReadingPlace;
  private readonly keys = new OwnKeys();
  /** Messages being edited, with the text so far, and why a save was refused. */
  private readonly drafts = new Map<string, string>();
  private readonly editErrors = new Map<string, string>();
  /** Earlier versions shown under edited messages. */
  private readonly histories = new Map<string, RowExtras["history"]>();

  constructor(
    readonly room: string,
    private readonly ui: ChatUi,
    private readonly cadence: Cadence,
  ) {
    this.verifier = new Verifier(this.pending, {
      heal: async (entry) => (await healMessage(entry.id, this.room)).body,
      events: {
        onHeal: (entry) => {
          this.setOwn(entry.id, "healing");
          console.info(`[Self-Heal] message missing, triggering heal: ${entry.id}`);
        },
        onVerified: (entry) => this.setOwn(entry.id, "verified"),
        // Newer messages pushed it out of the list: it was there, nothing was lost.
        onOutOfWindow: (entry) => this.setOwn(entry.id, "verified"),
        onHealFailed: (entry, reason, waitMs) =>
          console.warn(`[Self-Heal] heal of ${entry.id} failed (${reason}); again in ${Math.round(waitMs / 1000)} s`),
        onHealsPaused: (waitMs) =>
          console.warn(`[Self-Heal] heals rate-limited; pausing ${Math.round(waitMs / 1000)} s`),
        onGaveUp: (entry, reason, status) => {
          // 410: an operator deleted it; any other final 4xx: the server cannot confirm it.
          this.setOwn(entry.id, status === 410 ? "deleted" : "unconfirmed");
          console.warn(`[Self-Heal] heal of ${entry.id} refused (${reason}); checks ended`);
        },
      },
    });
    this.catchUps = new CatchUp(
      async (since) => {
        const { body, mode } = await listComments(room, { limit: CACHE_SIZE, since });
        return { comments: body.comments, mode: mode ?? body.mode };
      },
      () => this.store.lastPos,
      (page) => {
        this.setMode(page.mode);
        this.store.merge(page.comments);
        this.forgetDeleted(page.comments);
        this.verifier.seen(
          page.comments.map((m) => m.id),
          "poll",
        );
      },
    );
    this.live = roomSocket(room, {
      onFrame: (frame) => this.onFrame(frame),
      onStatus: (open) => {
        if (!open) {
          this.socketSends.dropped();
          // Without the socket nothing would end them: the next hello brings back those still being written.
          if (this.streams.list().length) {
            this.streams.reset();
            this.render();
          }
        }
        this.showMode();
        this.showPresence();
        // Open: the socket is the path now (hello brings any catch-up), so the poll goes to
        // the idle cadence; closed: poll no later than the polling cadence.
        if (open) this.scheduleNext();
        else this.pollNoLaterThanCadence();
      },
      // Too many sockets in the room: poll at the normal pace; the socket asks again later.
      onRefused: () => {
        this.showMode();
        this.pollNoLaterThanCadence();
      },
    });
    this.socketSends = new SocketSender(this.live);
    this.history = new ScrollBack(room, this.store, (state) =>
      this.ui.list.keepPosition(() => this.ui.list.showHistory(state, room)),
    );
    this.ui.list.onNearTop(() => void this.loadOlder());
    this.reading = new ReadingPlace(room);
    this.ui.list.onScroll(() => this.noteReading());
    this.ui.list.pinToBottom();
    for (const entry of this.pending.forRoom(room)) this.rememberPending(entry);
  }

  start(): void {
    this.render();
    this.showMode();
    // Ages the bots and the typing names between the room's frames.
    setInterval(() => this.showPresence(), 1_000);
    // Back to the tab: what came meanwhile gets the "new messages" divider.
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) this.reading.returned();
      this.render();
    });
    void this.refresh();
    // Back online: check now instead of waiting out the backoff or the poll interval.
    window.addEventListener("online", () => {
      this.live.retryNow();
      void this.refresh();
    });
    // Another tab of this room verified or added pending ids.
    window.addEventListener("storage", (event) => {
      if (event.key === PENDING_KEY || event.key === null) this.syncPendingFromStorage();
    });
  }

  send(text: string, author: string | undefined): void {
    this.reading.wrote();
    const message: Message = {
      id: newMessageId(),
      room: this.room,
      kind: "human",
      author: author ?? "anonymous",
      text,
      status: "pending",
      createdAt: Date.now(),
    };
    this.ownCopies.set(message.id, message);
    this.own.set(message.id, "sending");
    this.render();
    this.ui.list.scrollToEnd();
    const editKey = this.keys.newEditKey(message.id);
    void sendAndReport(
      { id: message.id, room: this.room, text, editKey, ...(author ? { author } : {}) },
      () => (this.live.acceptsSends ? this.socketSends : null),
      {
        onRetry: (id, reason, slowedDown) => {
          // Too fast is not a fault: the text stays in the list and goes out when the server allows.
          this.setOwn(id, slowedDown ? "waiting" : "retrying");
          this.ui.showNotice(slowedDown ? SLOW_DOWN_NOTICE : `Could not send (${reason}); retrying…`);
        },
        onAcked: (stored) => this.acknowledged(stored),
        onRejected: (id, reason) => {
          this.ownCopies.delete(id);
          this.own.delete(id);
          this.render();
          this.ui.showRejected(text, reason);
        },
      },
    );
  }

  private acknowledged(message: Message): void {
    this.ownCopies.set(message.id, message);
    const entry = {
      id: message.id,
      room: message.room,
      author: message.author,
      text: message.text,
      createdAt: message.createdAt,
      ackedAt: Date.now(),
    };
    // false: pushed (or listed) before the send was even acknowledged, already verified.
    if (this.verifier.add(entry)) {
      this.setOwn(message.id, "sent");
      // An ack never pushes the next poll back: a fast poster still polls on its cadence.
      this.pollNoLaterThanCadence();
    }
    this.clearNotice();
  }

  /** What the message rows do: Stop, edits, history, reactions (do rooms). */
  readonly actions: RowActions = {
    stop: (id) => this.stop(id),
    regenerate: (id) => void this.regenerate(id),
    startEdit: (id) => {
      this.drafts.set(id, this.store.get(id)?.text ?? "");
      this.render();
    },
    draft: (id, text) => void this.drafts.set(id, text),
    cancelEdit: (id) => {
      this.drafts.delete(id);
      this.editErrors.delete(id);
      this.render();
    },
    saveEdit: (id) => void this.saveEdit(id),
    toggleHistory: (id) => void this.toggleHistory(id),
    react: (id, emoji) => void this.react(id, emoji),
  };

  private async saveEdit(id: string): Promise<void> {
    const current = this.store.get(id);
    const text = this.drafts.get(id)?.trim() ?? "";
    const editKey = this.keys.editKey(id);
    if (!current || !editKey) return;
    if (!text || text === current.text) return this.actions.cancelEdit(id);
    try {
      const { body } = await editMessage(this.room, id, { text, version: (current.version ?? 1) + 1, editKey });
      this.drafts.delete(id);
      this.editErrors.delete(id);
      this.histories.delete(id);
      this.store.merge([body]);
    } catch (err) {
      this.editErrors.set(id, `Not saved: ${describeError(err)}`);
    }
    this.render();
  }

  /** Ask again for the question a row answers (an AI reply) or is (a failed question). */
  private async regenerate(id: string): Promise<void> {
    const row = this.store.get(id);
    const question = row?.kind === "ai" ? row.replyTo : id;
    const editKey = question ? this.keys.editKey(question) : null;
    if (!question || !editKey) return;
    try {
      const { body } = await regenerateAnswer(this.room, question, { requestId: randomKey(), editKey });
      this.histories.delete(id);
      this.store.merge([body]);
    } catch (err) {
      this.ui.showNotice(`Could not ask again (${describeError(err)})`);
    }
    this.render();
  }

  /** The question a row answers (AI) or is (human), when this browser asked it. */
  private askedHere(message: Message): string | null {
    const question = message.kind === "ai" ? message.replyTo : message.id;
    return question && this.keys.editKey(question) !== null ? question : null;
  }

  private async toggleHistory(id: string): Promise<void> {
    if (this.histories.has(id)) {
      this.histories.delete(id);
      return this.render();
    }
    this.histories.set(id, "loading");
    this.render();
    try {
      this.histories.set(id, (await messageVersions(this.room, id)).body.versions);
    } catch (err) {
      this.histories.set(id, { error: describeError(err) });
    }
    this.render();
  }

  private async react(id: string, emoji: Reaction): Promise<void> {
    const on = !this.keys.reactions(id).includes(emoji);
    // Pressed at once: the room's push of the new count can arrive before this answer does.
    this.keys.setReaction(id, emoji, on);
    this.render();
    try {
      const { body } = await reactTo(this.room, id, { emoji, on, reactorKey: this.keys.reactorKey() });
      this.store.merge([body]);
      this.render();
    } catch (err) {
      this.keys.setReaction(id, emoji, !on);
      this.render();
      this.ui.showNotice(`Reaction not saved (${describeError(err)})`);
    }
  }

  /** The row's edit and reaction state (do rooms; kv rooms keep the first version's features). */
  private extrasOf(message: Message): RowExtras | undefined {
    if (this.mode !== "do") return undefined;
    return {
      interactive: true,
      editable: message.kind === "human" && this.keys.editKey(message.id) !== null,
      regenerable: this.regenerable(message),
      mine: this.keys.reactions(message.id),
      draft: this.drafts.get(message.id) ?? null,
      editError: this.editErrors.get(message.id) ?? null,
      history: this.histories.get(message.id) ?? null,
    };
  }

  /** An AI reply whose question is done, or a question that failed, asked from this browser. */
  private regenerable(message: Message): boolean {
    const question = this.askedHere(message);
    if (!question) return false;
    if (message.kind === "human") return message.status === "failed";
    const status = this.store.get(question)?.status;
    return status === "complete" || status === "failed";
  }

  /** The jump-to-latest button: the newest messages, which then count as seen. */
  jumpToLatest(): void {
    this.ui.list.scrollToEnd();
    this.noteReading();
  }

  /** The composer's name, for the room's presence (sent now if the socket is open, else on its hello). */
  setName(name: string | undefined): void {
    this.name = name;
    if (name && this.live.open) this.live.send({ type: "presence", name });
  }

  /** A key in the composer: tells the room at most every TYPING_EVERY_MS (do rooms, socket open). */
  typing(): void {
    const now = Date.now();
    if (!this.live.open || now - this.typedAt < TYPING_EVERY_MS) return;
    this.typedAt = now;
    this.live.send({ type: "typing" });
  }

  /** Stop pressed on a reply being written: the room tells the bot, and every page sees "stopping…". */
  stop(id: string): void {
    const question = this.streams.list().find((s) => s.id === id)?.replyTo;
    const editKey = question ? this.keys.editKey(question) : null;
    this.live.send({ type: "stop", id, ...(editKey ? { editKey } : {}) });
  }

  /** A full poll of this room (and of other rooms that still hold pending ids of ours). */
  private async refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = true;
    this.polls.cancel();
    let recheck = false;
    try {
      const limit = this.pending.forRoom(this.room).length ? CACHE_SIZE : PAGE_SIZE;
      const requestedAt = Date.now();
      const { body, mode } = await listComments(this.room, { limit });
      this.setMode(mode ?? body.mode);
      // A page without its socket learns who is here from its polls.
      if (body.presence) this.presence = { value: body.presence, at: Date.now() };
      this.store.merge(body.comments);
      // A kv list keeps deleted messages as tombstones: our own copies of them go too.
      this.forgetDeleted(body.comments);
      this.render();
      // A room whose messages do not fill the box: page back now, there will be no scroll.
      if (this.ui.list.nearTop()) void this.loadOlder();
      recheck = await this.verifier.check(this.room, body.comments, requestedAt, limit);
      recheck = (await this.verifyOtherRooms()) || recheck;
      this.clearNotice();
    } catch (err) {
      this.ui.showNotice(`Cannot reach the server (${describeError(err)}); retrying…`);
    } finally {
      this.refreshing = false;
      this.render();
      if (this.refreshAgain) {
        this.refreshAgain = false;
        void this.refresh();
      } else {
        this.scheduleNext(recheck);
      }
    }
  }

  /**
   * Scroll-back (do rooms): the page before the oldest message shown, added above it without
   * moving what the reader sees; again while the top is still in view, until the room's first.
   */
  private async loadOlder(): Promise<void> {
    if (this.mode !== "do") return;
    const added = await this.history.loadOlder((merge) =>
      this.ui.list.keepPosition(() => {
        merge();
        this.render();
      }),
    );
    if (added && this.ui.list.nearTop()) void this.loadOlder();
  }

  /** Ids sent from another room (before switching) are verified in their own room. */
  private async verifyOtherRooms(): Promise<boolean> {
    let recheck = false;
    for (const room of this.verifier.rooms()) {
      if (room === this.room) continue;
      const requestedAt = Date.now();
      const { body } = await listComments(room, { limit: CACHE_SIZE });
      recheck = (await this.verifier.check(room, body.comments, requestedAt, CACHE_SIZE)) || recheck;
    }
    return recheck;
  }

  /** After a reconnect or a gap in positions: fetch what the socket missed (src/client/catch-up.ts). */
  private async catchUp(): Promise<void> {
    // Nothing with a position yet (the room was in kv mode): a full poll is the catch-up.
    if (this.store.lastPos === 0) return this.refresh();
    try {
      await this.catchUps.run();
    } catch (err) {
      this.ui.showNotice(`Cannot reach the server (${describeError(err)}); retrying…`);
      this.pollNoLaterThanCadence();
    } finally {
      this.render();
    }
  }

  private onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case "hello":
        // The replies being written right now, whole: what this page held before is replaced.
        this.streams.reset(frame.streams);
        this.render();
        this.presence = frame.presence ? { value: frame.presence, at: Date.now() } : null;
        this.showPresence();
        if (this.name) this.live.send({ type: "presence", name: this.name });
        if (frame.lastPos > this.store.lastPos) void this.catchUp();
        return;
      case "stream":
        if (this.streams.apply(frame)) this.render();
        return;
      case "message":
      case "update": {
        // Every change takes the next position: a jump means we missed one (a message or a status change).
        const gap = missedChanges(positionOf(frame.message), this.store.lastPos);
        this.store.merge([frame.message]);
        this.streams.settle(frame.message);
        this.forgetDeleted([frame.message]);
        // Their message landed: they are no longer typing it.
        if (frame.type === "message" && this.typers.delete(frame.message.author)) this.showPresence();
        // Our last pending id just arrived: back to the rare poll at once.
        if (this.verifier.seen([frame.message.id], "push") && this.verifier.size === 0) this.scheduleNext();
        this.render();
        if (gap) void this.catchUp();
        return;
      }
      case "mode":
        this.setMode(frame.mode);
        void this.refresh();
        return;
      case "ack":
      case "nack":
        this.socketSends.receive(frame);
        return;
      case "presence":
        this.presence = { value: frame, at: Date.now() };
        this.showPresence();
        return;
      case "typing":
        this.typers.set(frame.name, Date.now() + TYPING_SHOWN_MS);
        this.showPresence();
        return;
      case "pong":
        return;
      case "slow-down":
        // This page sent frames faster than the room meters them: the dropped one is resent by its own loop.
        console.warn(`[socket] ${frame.error}`);
        return;
    }
  }

  private setMode(mode: PathMode): void {
    if (mode === this.mode) return;
    this.mode = mode;
    // Pushes exist only in do mode; kv rooms are polled.
    if (mode === "do") this.live.start();
    else {
      this.live.stop();
      this.streams.reset();
    }
    // Only a do room's log reaches back further than the newest messages.
    this.ui.list.keepPosition(() => this.ui.list.showHistory(mode === "do" ? this.history.current : null, this.room));
    this.showMode();
  }

  /** Presence as the room last said, bots aged since, and who is typing now; nothing without a socket. */
  private showPresence(): void {
    const now = Date.now();
    for (const [name, until] of this.typers) if (until <= now) this.typers.delete(name);
    if (!this.presence || this.mode !== "do") {
      this.ui.showPresence(null);
      this.ui.showTyping([]);
      return;
    }
    const { value, at } = this.presence;
    const bots = value.bots
      .map((bot) => ({ ...bot, seenAgoMs: bot.seenAgoMs + (now - at) }))
      .filter((bot) => bot.seenAgoMs < BOT_AWAY_MS);
    this.ui.showPresence({ ...value, bots });
    this.ui.showTyping([...this.typers.keys()]);
  }

  private showMode(): void {
    const socket = this.live.open ? "live" : this.live.refused ? "polling" : "connecting";
    const delivery = this.mode === "do" ? socket : "polling";
    this.ui.showMode(this.mode, delivery);
  }

  /** The next poll on the cadence from now, replacing the one scheduled (after a poll, or once nothing is left to verify). */
  private scheduleNext(recheck = false): void {
    this.polls.in(this.nextDelay(recheck));
  }

  /** An event (an ack, the socket opening or closing) may bring the next poll forward, never push it back. */
  private pollNoLaterThanCadence(): void {
    this.polls.noLaterThan(this.nextDelay(false));
  }

  private nextDelay(recheck: boolean): number {
    return this.cadence.nextDelay({ socketOpen: this.live.open, unverified: this.verifier.size > 0, recheck });
  }

  /** The server answers again; a message still waiting for its turn keeps the slow-down notice up. */
  private clearNotice(): void {
    this.ui.showNotice([...this.own.values()].includes("waiting") ? SLOW_DOWN_NOTICE : null);
  }

  /** Tombstones among pushed, caught-up or (kv) polled messages: our own copies of them go too. */
  private forgetDeleted(messages: Message[]): void {
    const deleted = messages.filter((m) => m.deleted).map((m) => m.id);
    if (deleted.length) this.verifier.forget(deleted);
    for (const id of deleted) this.setOwn(id, "deleted");
  }

  private setOwn(id: string, state: OwnState): void {
    if (state === "deleted") {
      // Deleted by an operator: not shown, not verified, whatever state it was in.
      this.ownCopies.delete(id);
      this.own.delete(id);
      this.render();
      return;
    }
    if (this.own.get(id) === state) return;
    this.own.set(id, state);
    this.render();
  }

  private syncPendingFromStorage(): void {
    const pendingIds = new Set(this.pending.forRoom(this.room).map((entry) => entry.id));
    for (const [id, state] of this.own) {
      if ((state === "sent" || state === "healing") && !pendingIds.has(id)) this.own.set(id, "verified");
    }
    for (const entry of this.pending.forRoom(this.room)) if (!this.own.has(entry.id)) this.rememberPending(entry);
    this.render();
  }

  /** A pending id from storage (an earlier visit or another tab): show it until verified. */
  private rememberPending(entry: PendingEntry): void {
    this.own.set(entry.id, "sent");
    this.ownCopies.set(entry.id, {
      id: entry.id,
      room: entry.room,
      kind: "human",
      author: entry.author,
      text: entry.text,
      status: "pending",
      createdAt: entry.createdAt,
    });
  }

  private render(): void {
    const streamRows = this.streamRows();
    const answering = new Set(streamRows.map((row) => row.message.replyTo));
    const rows: Row[] = this.store.sorted().map((message) => ({
      message,
      own: this.own.get(message.id),
      beingAnswered: answering.has(message.id),
      extras: this.extrasOf(message),
    }));
    // Our own messages the room's list does not show (yet): sending, or pending verification.
    for (const message of this.ownCopies.values()) {
      if (!this.store.has(message.id)) rows.push({ message, own: this.own.get(message.id) ?? "sent" });
    }
    rows.push(...streamRows);
    rows.sort((a, b) => a.message.createdAt - b.message.createdAt);
    const listed = rows.filter((row) => !row.stream).map((row) => row.message);
    this.ui.list.render(rows, this.reading.dividerBefore(listed, this.isOwn));
    this.noteReading(listed);
  }

  private readonly isOwn = (message: Message): boolean => this.own.has(message.id);

  /** Seen is what a visible page shows at the bottom; the rest counts for the title and the jump button. */
  private noteReading(listed = this.store.sorted()): void {
    const atBottom = this.ui.list.atBottom();
    if (!document.hidden && atBottom) this.reading.sawUpTo(listed);
    this.ui.showUnseen(this.reading.unseen(listed, this.isOwn), { hidden: document.hidden, atBottom });
  }

  /** Replies being written, each just after the message it answers; never one whose reply is already listed. */
  private streamRows(): Row[] {
    const answered = new Set(
      this.store.sorted().flatMap((m) => (m.kind === "ai" && m.replyTo ? [m.replyTo, m.id] : [])),
    );
    return (
      this.streams
        .list()
        // A question asked again shows its new reply being written under the old answer.
        .filter(
          (s) => !answered.has(s.id) && !(answered.has(s.replyTo) && this.store.get(s.replyTo)?.status === "complete"),
        )
        .map((s) => {
          const human = this.store.get(s.replyTo);
          const message: Message = {
            id: s.id,
            room: this.room,
            kind: "ai",
            author: s.author,
            text: s.text,
            replyTo: s.replyTo,
            status: "processing",
            createdAt: (human?.createdAt ?? Date.now()) + 1,
          };
          return { message, stream: s.state, asked: this.askedHere(message) !== null };
        })
    );
  }
}
