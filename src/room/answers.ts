// A do room's bot side: pending messages, leases (claim, release, fail), the reply being
// written (stream) and the reply itself, which completes its human message in the same
// transaction. The lease rules themselves are in shared/leases.ts.
import { commentKey } from "../shared/keys";
import { refuseClaim, refuseFail, refuseRelease, refuseReply, unclaimedGraceMs, type Refusal } from "../shared/leases";
import type { ServerFrame } from "../shared/frames";
import type { Message } from "../shared/message";
import type { StreamAck, StreamCall } from "../shared/stream";
import { NOT_FOUND, gone, ok, refused, type NewReply, type RoomCall, type RoomRefusal, type RoomResult, type Stored } from "./calls";
import type { LogOpsDeps } from "./messages";
import type { RoomState } from "./log";

export class Answers {
  private readonly state: RoomState;

  constructor(private readonly deps: LogOpsDeps) {
    this.state = deps.state;
  }

  async pending(call: RoomCall): Promise<RoomResult<Message[]>> {
    const refusal = await this.deps.flips.enter(call);
    if (refusal) return refused(refusal);
    return ok(this.state.view.claimable(Date.now()));
  }

  /** Atomic lease (rules in shared/leases.ts). */
  async claim(call: RoomCall, messageId: string, botId: string, leaseMs: number): Promise<RoomResult<Message>> {
    return this.changeStatus(call, messageId, (message, now) => refuseClaim(message, botId, now), (id, now) => this.state.log.setClaim(id, botId, now + leaseMs), false);
  }

  async release(call: RoomCall, messageId: string, botId: string): Promise<RoomResult<Message>> {
    const released = await this.changeStatus(call, messageId, (message) => refuseRelease(message, botId), (id) => this.state.log.setStatus(id, "pending"), false);
    if (released.ok) this.deps.streams.interruptFor(messageId);
    return released;
  }

  async fail(call: RoomCall, messageId: string, botId: string, reason: string): Promise<RoomResult<Message>> {
    const failed = await this.changeStatus(call, messageId, (message, now) => refuseFail(message, botId, now, unclaimedGraceMs(this.deps.env.UNCLAIMED_GRACE_MS)), (id) => this.state.log.setStatus(id, "failed", reason), true);
    if (failed.ok) this.deps.streams.endFor(messageId);
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
    if (!holds) return refused({ status: 409, error: human.status === "complete" ? "message was already answered" : "claim the message before streaming its reply" });
    const ack = this.deps.streams.write(input);
    // The alarm looks at the lease when it would run out: a bot that died leaves its stream "interrupted".
    void this.deps.alarms.schedule(human.leaseUntil!);
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
    if (same && same.replyTo !== human.id) return refused({ status: 409, error: "id: already used by another message" });
    // A reply already in the log (e.g. merged from the kv path) answers the message, whatever its status says.
    const earlier = same ? null : this.state.view.replyTo(human.id);
    if (earlier) {
      if (human.status !== "complete") this.complete(human.id, now);
      return refused({ status: 409, error: `message was already answered by ${earlier.id}` });
    }
    // (A reply in the log was named above; a message completed elsewhere has none here.)
    const refusal = same ? null : refuseReply(human, input.botId, now, unclaimedGraceMs(this.deps.env.UNCLAIMED_GRACE_MS));
    if (refusal) return refused(refusal);
    const frames: ServerFrame[] = [];
    const stored = this.state.transaction(() => {
      const { message, created } = this.state.log.insert({
        id: input.id, room: this.state.roomName, kind: "ai", author: input.author, text: input.text,
        replyTo: human.id, status: "complete", createdAt: now, ...(input.stopped ? { stopped: true } : {}),
      });
      if (created) {
        this.deps.kvSync.owe(commentKey(message.id), now);
        frames.push({ type: "message", message });
      }
      if (human.status !== "complete") {
        this.state.log.setStatus(human.id, "complete");
        this.deps.kvSync.owe(commentKey(human.id), now);
      }
      const completed = this.state.log.get(human.id)!;
      if (human.status !== "complete") frames.push({ type: "update", message: completed });
      this.deps.streams.dropFor(human.id);
      return { message, created, human: completed };
    });
    this.deps.changed(frames);
    return ok(stored);
  }

  /** Admits a reply or a stream: the human message it answers, or why there is none to answer here. */
  private async enterToAnswer(call: RoomCall, replyTo: string): Promise<{ human: Message; now: number } | { refusal: RoomRefusal }> {
    const entered = await this.deps.flips.enter(call);
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
      this.deps.streams.dropFor(humanId);
      this.state.log.setStatus(humanId, "complete");
      this.deps.kvSync.owe(commentKey(humanId), now);
      return this.state.log.get(humanId)!;
    });
    this.deps.changed([{ type: "update", message: completed }]);
  }

  private async changeStatus(
    call: RoomCall,
    messageId: string,
    refuse: (message: Message, now: number) => Refusal | null,
    apply: (id: string, now: number) => void,
    recordIt: boolean,
  ): Promise<RoomResult<Message>> {
    const refusal = await this.deps.flips.enter(call);
    if (refusal) return refused(refusal);
    const now = Date.now();
    const message = this.state.view.get(messageId);
    if (!message) return refused(NOT_FOUND);
    if (message.deleted) return refused(gone());
    const refusedBy = refuse(message, now);
    if (refusedBy) return refused(refusedBy);
    const changed = this.state.transaction(() => {
      apply(messageId, now);
      if (recordIt) this.deps.kvSync.owe(commentKey(messageId), now);
      return this.state.log.get(messageId)!;
    });
    this.deps.changed([{ type: "update", message: changed }]);
    return ok(changed);
  }

  /** A stream whose bot's lease ran out is marked interrupted; answers when the next lease to watch ends. */
  interruptLapsedStreams(now: number): number | null {
    return this.deps.streams.interruptLapsed((stream) => {
      const human = this.state.log.get(stream.replyTo);
      const held = human?.status === "processing" && human.claimedBy === stream.botId;
      return held ? (human.leaseUntil ?? null) : null;
    }, now);
  }
}
