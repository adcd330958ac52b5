// The legacy path, kept faithful to the first version on purpose: every change is a
// read-modify-write of one KV value, `cache:<room>`, after the message's own KV
// record. Concurrent writers overwrite each other (last write wins, no error); the
// verification layer heals the losses. Do not add locks or retries here: the race
// lab measures exactly this behaviour.
import { cacheKey } from "../../shared/keys";
import { isClaimable, refuseClaim, refuseFail, refuseRelease, type Refusal } from "../../shared/leases";
import { CACHE_SIZE, DELETED_ERROR, newMessageId, placedByTime, toTombstone, type Message } from "../../shared/message";
import { StatusError } from "../http";
import { isMarked, markRoom, readRecord, writeRecord } from "../kv-records";
import { limitNewRoom } from "../../limits/room-limit";
import { roomLimits } from "../../limits/retention";
import type { Deleted, HumanInput, ListQuery, ReplyInput, RoomPath, Stored } from "./path";

export class KvPath implements RoomPath {
  readonly mode = "kv" as const;
  constructor(
    private readonly kv: KVNamespace,
    private readonly room: string,
    private readonly graceMs: number,
    /** ROOM_LIMITER for new rooms, ROOM_RETENTION_DAYS for record expiry, ROOM for the tombstones of deletions. */
    private readonly env: Pick<
      Env,
      "ROOM_LIMITER" | "RATE_LIMIT_EXEMPT" | "ROOM_MAX_MESSAGES" | "ROOM_RETENTION_DAYS" | "ROOM"
    >,
  ) {}

  private get retentionMs(): number {
    return roomLimits(this.env).retentionMs;
  }

  private async read(): Promise<Message[]> {
    return (await this.kv.get<Message[]>(cacheKey(this.room), "json")) ?? [];
  }

  private async write(list: Message[]): Promise<void> {
    await this.kv.put(cacheKey(this.room), JSON.stringify(list.slice(-CACHE_SIZE)));
  }

  /** The stored record for a known id of this room: the first version's idempotency (other rooms' ids are theirs). */
  private async known(id: string): Promise<Message | null> {
    const stored = await readRecord(this.kv, this.room, id);
    if (stored?.deleted) refuseWith({ status: 410, error: `id: ${DELETED_ERROR}` });
    return stored;
  }

  /** The record first (the heal source), then the room's list. */
  async post(input: HumanInput): Promise<Stored> {
    const id = input.id ?? newMessageId();
    const stored = await this.known(id);
    if (stored) return { message: stored, created: false };
    // A room without its marker has never had a message: this one creates it.
    if (input.creator !== undefined && !(await isMarked(this.kv, this.room))) {
      const limited = await limitNewRoom(this.env, input.creator);
      if (limited) throw new StatusError(429, { ...limited, mode: "kv" });
    }
    const message: Message = {
      id,
      room: this.room,
      kind: "human",
      author: input.author ?? "anonymous",
      text: input.text,
      status: "pending",
      createdAt: Date.now(),
    };
    const { list, existing } = await this.recordThenRead(message);
    if (existing) return { message: existing, created: false };
    list.push(message);
    await this.write(list);
    return { message, created: true };
  }

  /** The first version's order: the message's record (the heal source), the room marker, then the cached list. */
  private async recordThenRead(message: Message): Promise<{ list: Message[]; existing: Message | undefined }> {
    await writeRecord(this.kv, message, this.retentionMs);
    await markRoom(this.kv, this.room, this.retentionMs);
    const list = await this.read();
    return { list, existing: list.find((m) => m.id === message.id) };
  }

  async reply(input: ReplyInput): Promise<Stored> {
    const human = await readRecord(this.kv, this.room, input.replyTo);
    if (!human) refuseWith({ status: 404, error: "replyTo: message not found" });
    if (human!.deleted) refuseWith({ status: 410, error: `replyTo: ${DELETED_ERROR}` });
    if (human!.kind !== "human") refuseWith({ status: 400, error: "replyTo: must be a human message" });
    const id = input.id ?? newMessageId();
    const stored = await this.known(id);
    if (stored) return { message: stored, created: false };
    const ai: Message = {
      id,
      room: this.room,
      kind: "ai",
      author: input.author ?? "bot",
      text: input.text,
      replyTo: input.replyTo,
      status: "complete",
      createdAt: Date.now(),
    };
    const { list, existing } = await this.recordThenRead(ai);
    if (existing) return { message: existing, created: false };
    list.push(ai);
    const index = list.findIndex((m) => m.id === ai.replyTo);
    if (index >= 0)
      list[index] = {
        ...list[index]!,
        status: "complete",
        claimedBy: undefined,
        leaseUntil: undefined,
        error: undefined,
      };
    await this.write(list);
    if (index >= 0) await writeRecord(this.kv, list[index]!, this.retentionMs);
    return { message: ai, created: true };
  }

  async get(id: string): Promise<Message> {
    const record = await readRecord(this.kv, this.room, id);
    if (!record) refuseWith({ status: 404, error: "message not found" });
    if (record!.deleted) refuseWith({ status: 410, error: DELETED_ERROR });
    return record!;
  }

  /** The cached list as it is, tombstones included (a polling page drops their rows). */
  async list({ limit, before }: ListQuery) {
    // The KV value holds only the newest CACHE_SIZE messages: there is nothing older to page to.
    if (before !== undefined)
      refuseWith({
        status: 400,
        error: `before: scroll-back needs a do room; in kv mode a room keeps only its newest ${CACHE_SIZE} messages`,
      });
    const list = await this.read();
    return { comments: list.slice(-limit) };
  }

  async heal(record: Message) {
    const list = await this.read();
    const existing = list.find((m) => m.id === record.id);
    // The list's tombstone outranks a record a racy writer put back live: deletion is final.
    if (existing?.deleted) refuseWith({ status: 410, error: DELETED_ERROR });
    if (existing) return { message: existing, readded: false };
    await this.write(placedByTime(list, [record]));
    return { message: record, readded: true };
  }

  async pending() {
    const now = Date.now();
    return (await this.read()).filter((m) => isClaimable(m, now));
  }

  /** The first version's claim: a read-modify-write of the cached entry, so two bots can both win. */
  async claim(messageId: string, botId: string, leaseMs: number) {
    const now = Date.now();
    return this.update(messageId, (m) => {
      refuseWith(refuseClaim(m, botId, now));
      return { ...m, status: "processing", claimedBy: botId, leaseUntil: now + leaseMs };
    });
  }

  async release(messageId: string, botId: string) {
    return this.update(messageId, (m) => {
      refuseWith(refuseRelease(m, botId));
      return { ...m, status: "pending", claimedBy: undefined, leaseUntil: undefined };
    });
  }

  async fail(messageId: string, botId: string, reason: string) {
    const now = Date.now();
    const failed = await this.update(messageId, (m) => {
      refuseWith(refuseFail(m, botId, now, this.graceMs));
      return { ...m, status: "failed", error: reason, claimedBy: undefined, leaseUntil: undefined };
    });
    await writeRecord(this.kv, failed, this.retentionMs);
    return failed;
  }

  /** kv rooms keep the first version's behaviour: no streaming, "AI is thinking…" until the reply lands. */
  async stream(): Promise<never> {
    throw new StatusError(409, { error: "kv rooms do not stream replies; post the finished reply", mode: "kv" });
  }

  /** kv rooms keep the first version's features: no edits, no reactions. */
  async edit(): Promise<never> {
    throw new StatusError(409, {
      error: "kv rooms do not take edits: the room's path is the first version's",
      mode: "kv",
    });
  }
  async versions(): Promise<never> {
    throw new StatusError(409, {
      error: "kv rooms keep no versions: the room's path is the first version's",
      mode: "kv",
    });
  }
  async react(): Promise<never> {
    throw new StatusError(409, {
      error: "kv rooms do not take reactions: the room's path is the first version's",
      mode: "kv",
    });
  }

  async stop(): Promise<never> {
    throw new StatusError(409, { error: "kv rooms do not stream replies: there is nothing to stop", mode: "kv" });
  }
  async regenerate(): Promise<never> {
    throw new StatusError(409, {
      error: "kv rooms keep no versions of an answer: regenerate works in do rooms",
      mode: "kv",
    });
  }

  /** A kv room's list is the KV value (the newest messages only): there is no log to purge. */
  async purge(): Promise<never> {
    throw new StatusError(409, {
      error: "kv rooms have no log to purge: their list is the KV value, capped at its newest messages",
      mode: "kv",
    });
  }

  /**
   * Operator deletion on the kv path: the room's log keeps the tombstone first (a later flip
   * to do merges `cache:<room>` into it and must not bring the message back), then the
   * record becomes the tombstone (no heal re-adds it), then the racy list write puts the
   * tombstone in the message's place: kv pages only poll, and a tombstone in the list is
   * what tells them to drop the row. Repeating it finishes a deletion a failure interrupted.
   */
  async delete(id: string): Promise<Deleted> {
    const record = await readRecord(this.kv, this.room, id);
    const list = await this.read();
    const cached = list.find((m) => m.id === id);
    const source = record ?? cached;
    if (!source) refuseWith({ status: 404, error: "message not found in this room" });
    const tombstone = source!.deleted ? source! : toTombstone(source!, Date.now());
    await this.env.ROOM.getByName(this.room).keepTombstone(this.room, tombstone);
    await writeRecord(this.kv, tombstone, this.retentionMs);
    if (cached && !cached.deleted) await this.write(list.map((m) => (m.id === id ? tombstone : m)));
    return { message: tombstone, deleted: !source!.deleted };
  }

  private async update(messageId: string, change: (m: Message) => Message): Promise<Message> {
    const list = await this.read();
    const index = list.findIndex((m) => m.id === messageId);
    // Only on a miss: one more read tells a deleted message (final) from one the cache lost.
    if (index < 0 && (await readRecord(this.kv, this.room, messageId))?.deleted)
      refuseWith({ status: 410, error: DELETED_ERROR });
    if (index < 0) refuseWith({ status: 404, error: "message is not in the room's cache" });
    if (list[index]!.deleted) refuseWith({ status: 410, error: DELETED_ERROR });
    const next = change(list[index]!);
    list[index] = next;
    await this.write(list);
    return next;
  }
}

/** Refusals from this path say which path answered (X-Cache-Mode on the error). */
function refuseWith(refusal: Refusal | null): void {
  if (refusal) throw new StatusError(refusal.status, { error: refusal.error, mode: "kv" });
}
