// A do room's human messages: post (once per id), reads, heals from KV records, and
// operator deletions (tombstones). Each change is one transaction with its outbox rows;
// the room pushes it and lets KV catch up after the answer.
import { commentKey } from "../shared/keys";
import type { ServerFrame } from "../shared/frames";
import type { Message } from "../shared/message";
import type { AlarmSchedule } from "./room";
import type { RoomAdmission } from "./admission";
import { LEFT_DO_MODE, NOT_FOUND, gone, ok, refused, type Deleted, type NewHumanMessage, type RoomCall, type RoomResult, type Stored } from "./calls";
import type { Flips } from "./flips";
import type { KvSync } from "./outbox";
import type { RoomState } from "./log";
import type { LiveStreams } from "./streams";

/** What the log operations (here and answers.ts) use of the room. */
export type LogOpsDeps = {
  state: RoomState;
  flips: Pick<Flips, "enter" | "admitWrites">;
  kvSync: Pick<KvSync, "owe">;
  streams: LiveStreams;
  admission: RoomAdmission;
  alarms: Pick<AlarmSchedule, "schedule">;
  env: Env;
  /** after a committed change: push its frames, let KV catch up (the Room's, so a test can fail it) */
  changed(frames: ServerFrame[]): void;
};

export class Messages {
  private readonly state: RoomState;

  constructor(private readonly deps: LogOpsDeps) {
    this.state = deps.state;
  }

  /** A human message: stored once per id; a known id answers the stored message. */
  async post(call: RoomCall, input: NewHumanMessage, creator?: string): Promise<RoomResult<Stored>> {
    const refusal = await this.deps.flips.enter(call);
    if (refusal) return refused(refusal);
    const known = this.state.view.get(input.id);
    if (known?.deleted) return refused(gone("id: "));
    if (known) return ok({ message: known, created: false });
    // `creator`: the client key a new room counts against (none for bot and operator tokens).
    const limited = this.deps.admission.roomFull() ?? (creator !== undefined && this.deps.admission.isNew() ? await this.deps.admission.limitCreation(creator) : null);
    if (limited) return refused(limited);
    if (!(await this.deps.flips.admitWrites(call.room))) return refused(LEFT_DO_MODE);
    return ok(this.storeHuman(input));
  }

  /** One message of this room, straight from the log (a just-acknowledged post is readable at once). */
  async get(call: RoomCall, id: string): Promise<RoomResult<Message>> {
    const refusal = await this.deps.flips.enter(call);
    if (refusal) return refused(refusal);
    const message = this.state.view.get(id);
    if (message?.deleted) return refused(gone());
    return message ? ok(message) : refused(NOT_FOUND);
  }

  async list(call: RoomCall, limit: number, since?: number): Promise<RoomResult<{ comments: Message[]; lastPos: number }>> {
    const refusal = await this.deps.flips.enter(call);
    if (refusal) return refused(refusal);
    const comments = since === undefined ? this.state.view.recent(limit) : this.state.view.after(since, limit);
    // The room's change position: the `since` that continues from here.
    return ok({ comments, lastPos: this.state.view.lastPos() });
  }

  /** Scroll-back: the page of messages logged before `before` (a `seq`), oldest first; `more` when older ones remain. */
  async listBefore(call: RoomCall, before: number, limit: number): Promise<RoomResult<{ comments: Message[]; lastPos: number; more: boolean }>> {
    const refusal = await this.deps.flips.enter(call);
    if (refusal) return refused(refusal);
    const { messages, more } = this.state.view.before(before, limit);
    return ok({ comments: messages, lastPos: this.state.view.lastPos(), more });
  }

  /** Re-adds a message from its KV record; re-adding an AI reply also completes its human message. */
  async heal(call: RoomCall, record: Message): Promise<RoomResult<{ message: Message; readded: boolean }>> {
    const refusal = await this.deps.flips.enter(call, true);
    if (refusal) return refused(refusal);
    // The record may not say so yet (KV lags the log): the log's tombstone decides.
    if (record.deleted || this.state.view.get(record.id)?.deleted) return refused(gone());
    this.state.ensureSchema();
    const now = Date.now();
    const frames: ServerFrame[] = [];
    const message = this.state.transaction(() => {
      const { message, created } = this.state.log.insert(record);
      if (created) {
        this.deps.kvSync.owe(commentKey(message.id), now);
        frames.push({ type: "message", message });
      }
      const human = message.replyTo ? this.state.log.get(message.replyTo) : null;
      if (human) this.deps.streams.dropFor(human.id);
      if (human && human.kind === "human" && !human.deleted && human.status !== "complete") {
        this.state.log.setStatus(human.id, "complete");
        this.deps.kvSync.owe(commentKey(human.id), now);
        frames.push({ type: "update", message: this.state.log.get(human.id)! });
      }
      return { message, readded: created };
    });
    this.deps.changed(frames);
    return ok(message);
  }

  /**
   * Operator deletion (do mode): the message becomes a tombstone in the log, its KV record
   * one through the outbox, and sockets get the tombstone as an `update`. A message the log
   * never had but whose KV record names this room (lost on the kv path) is deleted too, so
   * no heal brings it in. Deleting a tombstone answers it again.
   */
  async deleteMessage(call: RoomCall, id: string): Promise<RoomResult<Deleted>> {
    const refusal = await this.deps.flips.enter(call);
    if (refusal) return refused(refusal);
    const logged = this.state.view.get(id);
    if (logged?.deleted) return ok({ message: logged, deleted: false });
    const source = logged ?? (await this.recordOf(id, call.room));
    if (!source) return refused(NOT_FOUND);
    // Only a deletion that writes registers the room; the KV read may have seen it leave do mode.
    if (!(await this.deps.flips.admitWrites(call.room))) return refused(LEFT_DO_MODE);
    return ok(this.tombstone(source, Date.now()));
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
      const logged = this.state.log.tombstone(message, at);
      // In kv mode the Worker writes the record itself.
      if (this.state.active) this.deps.kvSync.owe(commentKey(logged.id), at);
      return logged;
    });
    // A reply being written to a deleted message is dropped: viewers see it end, the bot's next call gets 410.
    this.deps.streams.endFor(tombstone.id);
    this.deps.changed([{ type: "update", message: tombstone }]);
    return { message: tombstone, deleted: true };
  }

  /** A message's KV record, if it belongs to this room. */
  private async recordOf(id: string, room: string): Promise<Message | null> {
    const record = await this.state.kv.get<Message>(commentKey(id), "json");
    return record && record.room === room ? record : null;
  }

  /** A new human message (a post or a socket send); a known id answers the stored one. */
  storeHuman(input: NewHumanMessage): Stored {
    this.state.ensureSchema();
    const now = Date.now();
    // The insert itself refuses a known id: a same-id call that landed during the caller's awaits is answered, not doubled.
    const stored = this.state.transaction(() => {
      const stored = this.state.log.insert({ ...input, room: this.state.roomName, kind: "human", status: "pending", createdAt: now });
      if (stored.created) this.deps.kvSync.owe(commentKey(stored.message.id), now);
      return stored;
    });
    if (stored.created) this.deps.changed([{ type: "message", message: stored.message }]);
    return stored;
  }
}
