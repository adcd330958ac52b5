// The log operations of a do room: each Room method that reads or changes the log lands
// here. A change is validated, written in one transaction with the outbox rows that owe
// its KV records, pushed to the sockets, and answered; KV catches up after the answer
// (outbox.ts), so KV never sits on the write path.
import { commentKey } from "../shared/keys";
import { readRecord } from "../storage/records";
import type { ServerFrame } from "../shared/frames";
import { refuseClaim, refuseFail, refuseRelease, refuseReply, unclaimedGraceMs, type Refusal } from "../shared/leases";
import type { Message, MessageVersion } from "../shared/message";
import type { StreamAck, StreamCall } from "../shared/stream";
import type { PostLimited } from "../limits/post-limit";
import { limitNewRoom } from "../limits/room-limit";
import { notQueued, queuePerSender } from "../shared/fair-queue";
import { keptSince } from "../limits/retention";
import {
  LEFT_DO_MODE,
  NOT_FOUND,
  PAST_RETENTION,
  gone,
  ok,
  refused,
  type Deleted,
  type EditInput,
  type NewHumanMessage,
  type NewReply,
  type AskerProof,
  type ReactInput,
  type RegenerateInput,
  type RoomCall,
  type RoomRefusal,
  type RoomResult,
  type Stored,
} from "./calls";
import type { Flips } from "./flips";
import type { RoomState } from "./log";
import type { KvSync } from "./outbox";
import type { AlarmSchedule, Broadcaster } from "./effects";
import type { LiveStreams } from "./streams";

export class LogOperations {
  /** ROOM_LIMITER checks in flight, and clients already allowed to create this room (see limitCreation). */
  private readonly creationChecks = new Map<string, Promise<PostLimited | null>>();
  private readonly creationAllowed = new Set<string>();

  constructor(
    private readonly state: RoomState,
    private readonly flips: Flips,
    private readonly kvSync: KvSync,
    private readonly streams: LiveStreams,
    private readonly alarms: AlarmSchedule,
    private readonly pushes: Broadcaster,
    private readonly env: Env,
  ) {}

  // ---- human messages ----
  // Post (once per id), reads, heals from KV records, and operator deletions (tombstones).

  /** A human message: stored once per id; a known id answers the stored message. */
  async post(call: RoomCall, input: NewHumanMessage, creator?: string): Promise<RoomResult<Stored>> {
    const refusal = await this.flips.enter(call);
    if (refusal) return refused(refusal);
    // `creator`: the client key a new room counts against (none for bot and operator tokens). A new
    // room knows no id, so nothing is spent on a resend.
    const limited =
      this.roomFull() ?? (creator !== undefined && this.isNew() ? await this.limitCreation(creator) : null);
    if (limited || !(await this.flips.admitWrites(call.room))) {
      // A resend of a known id is answered even so.
      const known = this.state.view.get(input.id);
      if (known) return known.deleted ? refused(gone("id: ")) : ok({ message: known, created: false });
      return refused(limited ?? LEFT_DO_MODE);
    }
    // The insert itself finds a known id: no lookup first on the hot path.
    const stored = this.storeHuman(input);
    return stored.message.deleted ? refused(gone("id: ")) : ok(stored);
  }

  /** A new human message (a post or a socket send); a known id answers the stored one. */
  storeHuman(input: NewHumanMessage): Stored {
    this.state.ensureSchema();
    const now = Date.now();
    // The insert itself refuses a known id: a same-id call that landed during the caller's
    // awaits is answered, not doubled.
    const stored = this.state.transaction(() => {
      const { editKeyHash, sender, capped, ...message } = input;
      // Past the sender's cap the message still posts (people talk on), but not for the bot.
      const cap = queuePerSender(this.env.BOT_QUEUE_PER_SENDER);
      const over = !!(capped && sender && cap > 0 && this.state.log.openPromptsOf(sender) >= cap);
      const status = over ? { status: "failed" as const, error: notQueued(cap) } : { status: "pending" as const };
      const stored = this.state.log.insert(
        { ...message, room: this.state.roomName, kind: "human", ...status, createdAt: now },
        editKeyHash ?? null,
        true,
        sender ?? null,
      );
      if (stored.created) this.kvSync.owe(this.recordKey(stored.message.id), now, !over);
      return stored;
    });
    if (stored.created) this.changed([{ type: "message", message: stored.message }]);
    return stored;
  }

  /**
   * After a committed change: push it, then let KV catch up without holding the answer.
   * The pushes go out as the Room answers (Broadcaster.flush).
   */
  private changed(frames: ServerFrame[]): void {
    if (!frames.length) return;
    for (const frame of frames) this.pushes.push(frame);
    this.kvSync.changed();
  }

  /** One message of this room, straight from the log (a just-acknowledged post is readable at once). */
  async get(call: RoomCall, id: string): Promise<RoomResult<Message>> {
    const refusal = await this.flips.enter(call);
    if (refusal) return refused(refusal);
    const message = this.state.view.get(id);
    if (message?.deleted) return refused(gone());
    return message ? ok(message) : refused(NOT_FOUND);
  }

  async list(
    call: RoomCall,
    limit: number,
    since?: number,
  ): Promise<RoomResult<{ comments: Message[]; lastPos: number }>> {
    const refusal = await this.flips.enter(call);
    if (refusal) return refused(refusal);
    const comments = since === undefined ? this.state.view.recent(limit) : this.state.view.after(since, limit);
    // The room's change position: the `since` that continues from here.
    return ok({ comments, lastPos: this.state.view.lastPos() });
  }

  /**
   * Scroll-back: the page of messages logged before `before` (a `seq`), oldest first; `more`
   * when older ones remain.
   */
  async listBefore(
    call: RoomCall,
    before: number,
    limit: number,
  ): Promise<RoomResult<{ comments: Message[]; lastPos: number; more: boolean }>> {
    const refusal = await this.flips.enter(call);
    if (refusal) return refused(refusal);
    const { messages, more } = this.state.view.before(before, limit);
    return ok({ comments: messages, lastPos: this.state.view.lastPos(), more });
  }

  /** Re-adds a message from its KV record; re-adding an AI reply also completes its human message. */
  async heal(call: RoomCall, record: Message): Promise<RoomResult<{ message: Message; readded: boolean }>> {
    const refusal = await this.flips.enter(call, true);
    if (refusal) return refused(refusal);
    // The record may not say so yet (KV lags the log): the log's tombstone decides.
    const logged = this.state.view.get(record.id);
    if (record.deleted || logged?.deleted) return refused(gone());
    const now = Date.now();
    // Retention or a purge deleted it (its record outlives it until KV expires it): gone for good.
    if (!logged && record.createdAt < keptSince(this.state.limits, now, this.state.purgedBefore())) {
      return refused(PAST_RETENTION);
    }
    this.state.ensureSchema();
    const frames: ServerFrame[] = [];
    const message = this.state.transaction(() => {
      const { message, created } = this.state.log.insert(record, null, true);
      const owed: string[] = [];
      if (created) {
        owed.push(this.recordKey(message.id));
        frames.push({ type: "message", message });
      }
      const human = message.replyTo ? this.state.log.get(message.replyTo) : null;
      if (human) this.streams.dropFor(human.id);
      if (human && human.kind === "human" && !human.deleted && human.status !== "complete") {
        this.state.log.setStatus(human.id, "complete", null, true);
        owed.push(this.recordKey(human.id));
        frames.push({ type: "update", message: this.state.log.get(human.id)! });
      }
      if (owed.length) this.kvSync.owe(owed, now);
      return { message, readded: created };
    });
    this.changed(frames);
    return ok(message);
  }

  /**
   * Operator deletion (do mode): the message becomes a tombstone in the log, its KV record
   * one through the outbox, and sockets get the tombstone as an `update`. A message the log
   * never had but whose KV record names this room (lost on the kv path) is deleted too, so
   * no heal brings it in. Deleting a tombstone answers it again.
   */
  async deleteMessage(call: RoomCall, id: string): Promise<RoomResult<Deleted>> {
    const refusal = await this.flips.enter(call);
    if (refusal) return refused(refusal);
    const logged = this.state.view.get(id);
    if (logged?.deleted) return ok({ message: logged, deleted: false });
    const source = logged ?? (await this.recordOf(id, call.room));
    if (!source) return refused(NOT_FOUND);
    // Only a deletion that writes registers the room; the KV read may have seen it leave do mode.
    if (!(await this.flips.admitWrites(call.room))) return refused(LEFT_DO_MODE);
    return ok(this.tombstone(source, Date.now()));
  }

  // ---- edits and reactions ----
  // Changes like any other: the next position, pushed as `update`, in `since` catch-up.

  /**
   * The author's new text, with the key the post was given: the old text is kept as a version,
   * the KV record is rewritten through the outbox. Idempotent by (id, version): the same edit
   * again answers the message as it stands; a different text for a version already taken is 409.
   */
  async edit(call: RoomCall, input: EditInput): Promise<RoomResult<Message>> {
    const refusal = await this.flips.enter(call);
    if (refusal) return refused(refusal);
    const current = this.state.view.get(input.id);
    if (!current) return refused(NOT_FOUND);
    if (current.deleted) return refused(gone());
    const keyHash = current.kind === "human" ? this.state.log.editKeyHash(input.id) : null;
    if (!keyHash || keyHash !== input.editKeyHash) {
      return refused({
        status: 403,
        error: "editKey: only its author (with the key its post was given) may edit this message",
      });
    }
    const version = current.version ?? 1;
    if (input.version <= version) {
      const text =
        input.version === version ? current.text : this.state.log.versions(input.id)[input.version - 1]?.text;
      return text === input.text ? ok(current) : refused(versionTaken(input.version, version));
    }
    if (input.version !== version + 1) return refused(versionTaken(input.version, version));
    if (!(await this.flips.admitWrites(call.room))) return refused(LEFT_DO_MODE);
    const now = Date.now();
    const edited = this.state.transaction(() => {
      this.state.log.edit(current, input.text, now);
      this.kvSync.owe(this.recordKey(input.id), now);
      return this.state.log.get(input.id)!;
    });
    this.changed([{ type: "update", message: edited }]);
    return ok(edited);
  }

  /** Every earlier text of a message (operators and readers alike: an edit never hides what was said). */
  async versions(call: RoomCall, id: string): Promise<RoomResult<{ message: Message; versions: MessageVersion[] }>> {
    const refusal = await this.flips.enter(call);
    if (refusal) return refused(refusal);
    const message = this.state.view.get(id);
    if (!message) return refused(NOT_FOUND);
    if (message.deleted) return refused(gone());
    return ok({ message, versions: message.version ? this.state.log.versions(id) : [] });
  }

  /** One reactor's emoji on or off: idempotent per (message, reactor, emoji); counts pushed as `update`. */
  async react(call: RoomCall, input: ReactInput): Promise<RoomResult<Message>> {
    const refusal = await this.flips.enter(call);
    if (refusal) return refused(refusal);
    const message = this.state.view.get(input.id);
    if (!message) return refused(NOT_FOUND);
    if (message.deleted) return refused(gone());
    if (!(await this.flips.admitWrites(call.room))) return refused(LEFT_DO_MODE);
    const changed = this.state.transaction(() =>
      this.state.log.react(message.id, input.emoji, input.reactorHash, input.on),
    );
    if (!changed) return ok(message);
    const reacted = this.state.log.get(input.id)!;
    // Counts are not part of the KV record: only the mirror shows them, at most once a second.
    this.kvSync.markDirty();
    this.changed([{ type: "update", message: reacted }]);
    return ok(reacted);
  }

  /**
   * kv mode: the Worker deleted a message on the kv path and leaves its tombstone here too,
   * so a later flip to do, which merges `cache:<room>` into this log, cannot bring it back.
   */
  async keepTombstone(room: string, tombstone: Message): Promise<Deleted> {
    this.state.setRoomName(room);
    const logged = this.state.view.get(tombstone.id);
    if (logged?.deleted) return { message: logged, deleted: false };
    return this.tombstone(tombstone, tombstone.deletedAt ?? Date.now());
  }

  private tombstone(message: Message, at: number): Deleted {
    this.state.ensureSchema();
    const tombstone = this.state.transaction(() => {
      const logged = this.state.log.tombstone(message, at, this.state.active);
      // In kv mode the Worker writes the record itself.
      if (this.state.active) this.kvSync.owe(this.recordKey(logged.id), at);
      return logged;
    });
    // A reply being written to a deleted message is dropped: viewers see it end, the bot's next call gets 410.
    this.streams.endFor(tombstone.id);
    this.changed([{ type: "update", message: tombstone }]);
    return { message: tombstone, deleted: true };
  }

  /** A message's KV record, if it belongs to this room. */
  private recordOf(id: string, room: string): Promise<Message | null> {
    return readRecord(this.state.kv, room, id);
  }

  /** The key of this room's record of a message. */
  private recordKey(id: string): string {
    return commentKey(this.state.roomName, id);
  }

  // ---- the bot side ----
  // Pending messages, leases (claim, release, fail), the reply being written (stream) and
  // the reply itself, which completes its human message in the same transaction. The lease
  // rules themselves are in shared/leases.ts.

  async pending(call: RoomCall): Promise<RoomResult<Message[]>> {
    const refusal = await this.flips.enter(call);
    if (refusal) return refused(refusal);
    return ok(this.state.view.claimable(Date.now()));
  }

  /** Atomic lease (rules in shared/leases.ts). */
  async claim(
    call: RoomCall,
    messageId: string,
    botId: string,
    leaseMs: number,
    addressed?: (message: Message) => Refusal | null,
  ): Promise<RoomResult<Message>> {
    return this.changeStatus(
      call,
      messageId,
      (message, now) => refuseClaim(message, botId, now) ?? addressed?.(message) ?? null,
      (id, now) => this.state.log.setClaim(id, botId, now + leaseMs),
      false,
    );
  }

  async release(call: RoomCall, messageId: string, botId: string): Promise<RoomResult<Message>> {
    const released = await this.changeStatus(
      call,
      messageId,
      (message) => refuseRelease(message, botId),
      (id) => this.state.log.setStatus(id, "pending"),
      false,
    );
    if (released.ok) this.streams.interruptFor(messageId);
    return released;
  }

  async fail(call: RoomCall, messageId: string, botId: string, reason: string): Promise<RoomResult<Message>> {
    const failed = await this.changeStatus(
      call,
      messageId,
      (message, now) => refuseFail(message, botId, now, unclaimedGraceMs(this.env.UNCLAIMED_GRACE_MS)),
      (id) => this.state.log.setStatus(id, "failed", reason, true),
      true,
    );
    if (failed.ok) this.streams.endFor(messageId);
    return failed;
  }

  /**
   * The text of a reply being written (do rooms; the bot holds a live claim on `replyTo`).
   * The stream has the id the finished reply will have; `reply` with that id ends it.
   */
  async stream(call: RoomCall, input: StreamCall): Promise<RoomResult<StreamAck>> {
    const found = await this.enterToAnswer(call, input.replyTo);
    if ("refusal" in found) return refused(found.refusal);
    const { human, now } = found;
    const same = this.state.view.get(input.id);
    if (same?.deleted) return refused(gone("id: "));
    if (same) return refused({ status: 409, error: "id: this reply is already in the room" });
    const holds = human.status === "processing" && human.claimedBy === input.botId && (human.leaseUntil ?? 0) > now;
    if (!holds) {
      const error =
        human.status === "complete" ? "message was already answered" : "claim the message before streaming its reply";
      return refused({ status: 409, error });
    }
    const ack = this.streams.write(input);
    // The alarm looks at the lease when it would run out: a bot that died leaves its stream "interrupted".
    void this.alarms.schedule(human.leaseUntil!);
    return ok(ack);
  }

  /**
   * Adds an AI reply and completes its human message in one transaction. The same reply
   * id again answers the stored reply (and completes the human message if a crash left it
   * open); a second reply to one message, from any bot, is refused with 409.
   */
  async reply(call: RoomCall, input: NewReply): Promise<RoomResult<Stored & { human: Message }>> {
    const found = await this.enterToAnswer(call, input.replyTo);
    if ("refusal" in found) return refused(found.refusal);
    const { human, now } = found;
    const same = this.state.view.get(input.id);
    if (same?.deleted) return refused(gone("id: "));
    if (same && same.replyTo !== human.id) {
      return refused({ status: 409, error: "id: already used by another message" });
    }
    // A reply already in the log (e.g. merged from the kv path) answers the message, whatever its status says,
    // unless its asker asked again: then this reply is the earlier one's next version.
    const earlier = same ? null : this.state.view.replyTo(human.id);
    if (earlier && this.state.log.asks(earlier.id).replyId === input.id) {
      return ok({ message: earlier, created: false, human });
    }
    if (earlier && human.status !== "complete" && this.state.log.asks(human.id).regenRequest) {
      return this.newAnswer(human, earlier, input, now);
    }
    if (earlier) {
      if (human.status !== "complete") this.complete(human.id, now);
      return refused({ status: 409, error: `message was already answered by ${earlier.id}` });
    }
    // (A reply in the log was named above; a message completed elsewhere has none here.)
    const refusal = same ? null : refuseReply(human, input.botId, now, unclaimedGraceMs(this.env.UNCLAIMED_GRACE_MS));
    if (refusal) return refused(refusal);
    const frames: ServerFrame[] = [];
    const stored = this.state.transaction(() => {
      const { message, created } = this.state.log.insert(
        {
          id: input.id,
          room: this.state.roomName,
          kind: "ai",
          author: input.author,
          text: input.text,
          replyTo: human.id,
          status: "complete",
          createdAt: now,
          ...(input.stopped ? { stopped: true } : {}),
        },
        null,
        true,
      );
      const owed: string[] = [];
      if (created) {
        owed.push(this.recordKey(message.id));
        frames.push({ type: "message", message });
      }
      if (human.status !== "complete") {
        this.state.log.setStatus(human.id, "complete", null, true);
        owed.push(this.recordKey(human.id));
      }
      if (owed.length) this.kvSync.owe(owed, now);
      const completed = this.state.log.get(human.id)!;
      if (human.status !== "complete") frames.push({ type: "update", message: completed });
      this.streams.dropFor(human.id);
      return { message, created, human: completed };
    });
    this.changed(frames);
    return ok(stored);
  }

  /** A regenerated message's answer: the earlier reply's next version, and the message complete again. */
  private newAnswer(
    human: Message,
    earlier: Message,
    input: NewReply,
    now: number,
  ): RoomResult<Stored & { human: Message }> {
    const refusal = refuseReply(human, input.botId, now, unclaimedGraceMs(this.env.UNCLAIMED_GRACE_MS));
    if (refusal) return refused(refusal);
    const answered = this.state.transaction(() => {
      const { text, author } = input;
      this.state.log.newAnswer(earlier, { text, author, stopped: !!input.stopped, replyId: input.id }, now);
      this.state.log.setStatus(human.id, "complete", null, true);
      this.kvSync.owe([this.recordKey(earlier.id), this.recordKey(human.id)], now);
      // The stream ran under the new reply's id, which never becomes a row: viewers drop it.
      this.streams.endFor(human.id);
      return { message: this.state.log.get(earlier.id)!, created: true, human: this.state.log.get(human.id)! };
    });
    this.changed([
      { type: "update", message: answered.message },
      { type: "update", message: answered.human },
    ]);
    return ok(answered);
  }

  // ---- the asker: Stop and ask again ----
  // Only who asked (the human message's edit key), a bot or an operator may stop its reply or
  // ask for another answer; anyone else gets 403 and nothing changes.

  /** Stop on the replies being written to `humanId`; the stream's pushes tell everyone. */
  async stop(call: RoomCall, humanId: string, proof: AskerProof): Promise<RoomResult<{ stopped: number }>> {
    const refusal = await this.flips.enter(call);
    if (refusal) return refused(refusal);
    const human = this.state.view.get(humanId);
    if (!human) return refused(NOT_FOUND);
    if (human.deleted) return refused(gone());
    return this.stopAsked(humanId, proof);
  }

  /** Stop, once the room is entered (a socket's frame, or stop): the asker's check, then the streams. */
  stopAsked(humanId: string, proof: AskerProof): RoomResult<{ stopped: number }> {
    const notAsker = this.notAsker(humanId, proof, "stop its reply");
    if (notAsker) return refused(notAsker);
    const stopped = this.streams.requestStopFor(humanId);
    if (!stopped) return refused({ status: 404, error: "no reply to this message is being written" });
    return ok({ stopped });
  }

  /**
   * Ask again: a human message whose answer is done, failed or stopped is pending again; the
   * next reply becomes a new version of the answer (reply). Idempotent by request id.
   */
  async regenerate(call: RoomCall, input: RegenerateInput): Promise<RoomResult<Message>> {
    const refusal = await this.flips.enter(call);
    if (refusal) return refused(refusal);
    const human = this.state.view.get(input.id);
    if (!human) return refused(NOT_FOUND);
    if (human.deleted) return refused(gone());
    if (human.kind !== "human") {
      return refused({ status: 400, error: "id: regenerate the human message the answer replies to" });
    }
    const notAsker = this.notAsker(input.id, input, "ask again");
    if (notAsker) return refused(notAsker);
    const asks = this.state.log.asks(input.id);
    if (asks.regenRequest === input.requestId) return ok(human);
    if (human.status === "pending" || human.status === "processing") {
      return refused({ status: 409, error: "message is already waiting for an answer" });
    }
    // The next answer would be the deleted one's next version: a tombstone never takes words again.
    if (this.state.view.replyTo(input.id)?.deleted) return refused(gone("its answer: "));
    const cap = queuePerSender(this.env.BOT_QUEUE_PER_SENDER);
    if (!input.privileged && asks.sender && cap > 0 && this.state.log.openPromptsOf(asks.sender) >= cap) {
      return refused({ status: 429, error: notQueued(cap), retryAfter: 60 });
    }
    if (!(await this.flips.admitWrites(call.room))) return refused(LEFT_DO_MODE);
    const now = Date.now();
    const reopened = this.state.transaction(() => {
      this.state.log.reopen(human, input.requestId);
      this.kvSync.owe(this.recordKey(input.id), now);
      return this.state.log.get(input.id)!;
    });
    this.changed([{ type: "update", message: reopened }]);
    return ok(reopened);
  }

  /** Null when `proof` shows the asker of `humanId` (or a token holder), else the 403. */
  private notAsker(humanId: string, proof: AskerProof, what: string): RoomRefusal | null {
    if (proof.privileged) return null;
    const keyHash = this.state.log.editKeyHash(humanId);
    if (keyHash && keyHash === proof.editKeyHash) return null;
    return {
      status: 403,
      error: `editKey: only who asked (with the key the question was posted with), a bot or an operator may ${what}`,
    };
  }

  /** Admits a reply or a stream: the human message it answers, or why there is none to answer here. */
  private async enterToAnswer(
    call: RoomCall,
    replyTo: string,
  ): Promise<{ human: Message; now: number } | { refusal: RoomRefusal }> {
    const entered = await this.flips.enter(call);
    if (entered) return { refusal: entered };
    const human = this.state.view.get(replyTo);
    if (!human) return { refusal: { status: 404, error: "replyTo: message not found in this room" } };
    if (human.deleted) return { refusal: gone("replyTo: ") };
    if (human.kind !== "human") return { refusal: { status: 400, error: "replyTo: must be a human message" } };
    return { human, now: Date.now() };
  }

  /** Marks a human message answered (its reply is in the log) and tells the sockets. */
  private complete(humanId: string, now: number): void {
    const completed = this.state.transaction(() => {
      this.streams.dropFor(humanId);
      this.state.log.setStatus(humanId, "complete", null, true);
      this.kvSync.owe(this.recordKey(humanId), now);
      return this.state.log.get(humanId)!;
    });
    this.changed([{ type: "update", message: completed }]);
  }

  private async changeStatus(
    call: RoomCall,
    messageId: string,
    refuse: (message: Message, now: number) => Refusal | null,
    /** false: nothing changed (a renewal to the same lease), so nothing is written or pushed */
    apply: (id: string, now: number) => boolean | void,
    recordIt: boolean,
  ): Promise<RoomResult<Message>> {
    const refusal = await this.flips.enter(call);
    if (refusal) return refused(refusal);
    const now = Date.now();
    const message = this.state.view.get(messageId);
    if (!message) return refused(NOT_FOUND);
    if (message.deleted) return refused(gone());
    const refusedBy = refuse(message, now);
    if (refusedBy) return refused(refusedBy);
    const changed = this.state.transaction(() => {
      if (apply(messageId, now) === false) return null;
      if (recordIt) this.kvSync.owe(this.recordKey(messageId), now);
      return this.state.log.get(messageId)!;
    });
    if (!changed) return ok(message);
    this.changed([{ type: "update", message: changed }]);
    return ok(changed);
  }

  /** A stream whose bot's lease ran out is marked interrupted; answers when the next lease to watch ends. */
  interruptLapsedStreams(now: number): number | null {
    return this.streams.interruptLapsed((stream) => {
      const human = this.state.log.get(stream.replyTo);
      const held = human?.status === "processing" && human.claimedBy === stream.botId;
      return held ? (human.leaseUntil ?? null) : null;
    }, now);
  }

  // ---- admission ----
  // Whether a new human message may make this room bigger: ROOM_MAX_MESSAGES, and
  // ROOM_LIMITER for the message that creates the room (counted once per client).

  /**
   * One ROOM_LIMITER check per client while the room is new: a burst of first sends (they
   * interleave at the await) creates one room, so it must not count as many creations.
   */
  limitCreation(creator: string): Promise<PostLimited | null> {
    if (this.creationAllowed.has(creator)) return Promise.resolve(null);
    let check = this.creationChecks.get(creator);
    if (!check) {
      check = limitNewRoom(this.env, creator).then(
        (limited) => {
          this.creationChecks.delete(creator);
          if (!limited) this.creationAllowed.add(creator);
          return limited;
        },
        (err: unknown) => {
          // A check that failed decided nothing: the next send asks again.
          this.creationChecks.delete(creator);
          throw err;
        },
      );
      this.creationChecks.set(creator, check);
    }
    return check;
  }

  /** A room that has never had a message: its first one is a room creation (ROOM_LIMITER). */
  isNew(): boolean {
    return !this.state.schema || (!this.state.marked && this.state.log.lastPos() === 0);
  }

  /**
   * ROOM_MAX_MESSAGES reached: new human messages are refused (507) and nothing acknowledged
   * is deleted to make room; replies and heals of messages already acknowledged still land.
   */
  roomFull(): RoomRefusal | null {
    const { maxMessages, retentionMs } = this.state.limits;
    if (!maxMessages || this.state.view.count() < maxMessages) return null;
    const later = retentionMs
      ? `; space frees up as messages older than ${Math.round(retentionMs / 86_400_000)} days are deleted`
      : "";
    return { status: 507, error: `room is full: it holds ${maxMessages} messages, the most a room keeps${later}` };
  }
}

const versionTaken = (asked: number, current: number): RoomRefusal => ({
  status: 409,
  error: `version: the message is at version ${current}; send version ${current + 1} with the text it should have`,
});
