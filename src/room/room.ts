// The Room Durable Object: one per room, single-threaded, the only authority for a
// `do` room. A post, socket send, reply, claim, release, failure or heal is one call
// here, handed to its log operation (operations.ts): validate, dedupe by id, change
// SQLite in one transaction (with the outbox rows for KV), push, answer. KV records and
// the `cache:<room>` mirror are written after the answer, from the outbox and by alarm
// (outbox.ts), so KV never sits on the write path.
// This class is the object's surface (RPC methods, socket and alarm handlers) and wires
// its parts: flips.ts (do/kv mode), sockets.ts and streams.ts, over the SQL and shared
// state in log.ts; every part asks for the alarm and pushes through effects.ts. Below the
// class: the retention sweep the alarm runs.
import { DurableObject } from "cloudflare:workers";
import { PING_FRAME, PONG_FRAME, type BotState, type Presence } from "../shared/frames";
import type { Message, MessageVersion } from "../shared/message";
import type { StreamAck, StreamCall, StreamStats } from "../shared/stream";
import type { UsageCounts } from "../shared/usage";
import type { BotFailure } from "../shared/api";
import { Usage, type TableWrites } from "../storage/usage";
import {
  ok,
  refused,
  type Deleted,
  type EditInput,
  type NewHumanMessage,
  type NewReply,
  type AskerProof,
  type RegenerateInput,
  type Purged,
  type ReactInput,
  type RoomCall,
  type RoomResult,
  type Stored,
} from "./calls";
import { AlarmSchedule, Broadcaster } from "./effects";
import { Flips } from "./flips";
import { RoomState, type Removal } from "./log";
import { LogOperations } from "./operations";
import { KvSync, type OutboxStats } from "./outbox";
import { RoomSockets } from "./sockets";
import { LiveStreams } from "./streams";
import { RoomBotsConfig } from "./bots";
import type { RoomBots } from "../shared/bots";
import type { Refusal } from "../shared/leases";

/** A failed part of the alarm runs again this much later. */
const ALARM_RETRY_MS = 5_000;

export type RoomInspection = {
  room: string;
  /** live messages (tombstones left out): what ROOM_MAX_MESSAGES caps */
  count: number;
  /** ROOM_MAX_MESSAGES for this room (0: no cap) */
  maxMessages: number;
  lastSeq: number;
  active: boolean;
  flagVersion: number;
  mirroredAt: number;
  skippedOnReconcile: number;
  /** messages re-added to `cache:<room>` by the sweeps after a flip to kv, since the room woke */
  sweepReadded: number;
  outbox: OutboxStats;
  /** billed operations since the object woke (src/storage/usage.ts) */
  usage: UsageCounts;
  /** SQLite rows written since the object woke, by the table each statement wrote (index entries included) */
  rowsWrittenBy: Record<string, TableWrites>;
  /** replies being written now, and the storage writes and pushes streams have cost since the room woke */
  streams: StreamStats;
  /** the newest messages bots gave up on, with the bots' own reasons (viewers see MODEL_UNAVAILABLE) */
  failures: BotFailure[];
};

export class Room extends DurableObject<Env> {
  private readonly usage = new Usage();
  private readonly state: RoomState;
  private readonly alarms: AlarmSchedule;
  private readonly kvSync: KvSync;
  private readonly pushes: Broadcaster;
  private readonly streams: LiveStreams;
  private readonly flips: Flips;
  private readonly ops: LogOperations;
  private readonly sockets: RoomSockets;
  private readonly bots: RoomBotsConfig;
  /** The newest failures bots reported, in their own words (since the room woke). */
  private failures: RoomInspection["failures"] = [];

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const state = (this.state = new RoomState(ctx, env, this.usage));
    this.alarms = new AlarmSchedule(ctx.storage, this.usage);
    state.onRollback(() => this.alarms.save());
    this.kvSync = new KvSync(state, this.alarms);
    this.pushes = new Broadcaster(() => ctx.getWebSockets());
    this.streams = new LiveStreams(state.sql, (frame) => this.pushes.push(frame));
    this.flips = new Flips(state, this.kvSync, this.streams, this.pushes, this.alarms, this.usage, env);
    this.ops = new LogOperations(state, this.flips, this.kvSync, this.streams, this.alarms, this.pushes, env);
    this.sockets = new RoomSockets(state, this.ops, this.flips, this.streams, this.pushes, this.usage, env);
    this.bots = new RoomBotsConfig(ctx.storage.kv);
    this.sockets.presence.serving = () => this.bots.get();
    ctx.blockConcurrencyWhile(async () => {
      // A read or a socket must not create anything: a never-written room reads as empty.
      if (!state.load()) return;
      this.streams.load();
      // After a restart the last mirror may be older than the log: write one soon.
      if (state.active) this.kvSync.markDirty();
      const alarmSet = await this.alarms.load();
      // Owed writes, or messages retention must look at, and no alarm set to do it.
      const retentionDue = state.limits.retentionMs > 0 && state.log.oldestCreatedAt() !== null;
      if (!alarmSet && (state.outbox.pending() > 0 || retentionDue)) await this.alarms.schedule(Date.now());
    });
    // Pings are answered by the runtime without waking a hibernated room.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
  }

  // ---- RPC methods called by the Worker (do mode; each one is a log operation, operations.ts) ----

  /** A human message: stored once per id; a known id answers the stored message. */
  post(call: RoomCall, input: NewHumanMessage, creator?: string): Promise<RoomResult<Stored>> {
    return this.answered(() => this.ops.post(call, input, creator));
  }

  get(call: RoomCall, id: string): Promise<RoomResult<Message>> {
    return this.ops.get(call, id);
  }

  /** A list carries who is here: a page that polls (no socket) shows the count from its poll. */
  async list(
    call: RoomCall,
    limit: number,
    since?: number,
  ): Promise<RoomResult<{ comments: Message[]; lastPos: number; presence: Presence }>> {
    const result = await this.ops.list(call, limit, since);
    return result.ok
      ? { ...result, value: { ...result.value, presence: this.sockets.presence.snapshot(Date.now()) } }
      : result;
  }

  listBefore(
    call: RoomCall,
    before: number,
    limit: number,
  ): Promise<RoomResult<{ comments: Message[]; lastPos: number; more: boolean }>> {
    return this.ops.listBefore(call, before, limit);
  }

  heal(call: RoomCall, record: Message): Promise<RoomResult<{ message: Message; readded: boolean }>> {
    return this.answered(() => this.ops.heal(call, record));
  }

  deleteMessage(call: RoomCall, id: string): Promise<RoomResult<Deleted>> {
    return this.answered(() => this.ops.deleteMessage(call, id));
  }

  edit(call: RoomCall, input: EditInput): Promise<RoomResult<Message>> {
    return this.answered(() => this.ops.edit(call, input));
  }

  versions(call: RoomCall, id: string): Promise<RoomResult<{ message: Message; versions: MessageVersion[] }>> {
    return this.ops.versions(call, id);
  }

  react(call: RoomCall, input: ReactInput): Promise<RoomResult<Message>> {
    return this.answered(() => this.ops.react(call, input));
  }

  /** Stop on the replies being written to a human message: its asker, a bot or an operator only. */
  stop(call: RoomCall, humanId: string, proof: AskerProof): Promise<RoomResult<{ stopped: number }>> {
    return this.answered(() => this.ops.stop(call, humanId, proof));
  }

  /** Ask again: the human message is pending again; the next reply is its answer's next version. */
  regenerate(call: RoomCall, input: RegenerateInput): Promise<RoomResult<Message>> {
    return this.answered(() => this.ops.regenerate(call, input));
  }

  /** kv mode: the tombstone of a message the Worker deleted on the kv path, so a later flip cannot bring it back. */
  keepTombstone(room: string, tombstone: Message): Promise<Deleted> {
    return this.answered(() => this.ops.keepTombstone(room, tombstone));
  }

  /**
   * `botId`: who asks (bots that do not say are "bot"); the room's presence shows it waiting for work.
   * `roster`: the bots serving this room (the Worker's bot book); only messages this bot may take are listed.
   */
  async pending(call: RoomCall, botId = "bot", roster: string[] = []): Promise<RoomResult<Message[]>> {
    const result = await this.botCall(botId, "idle", this.ops.pending(call));
    if (!result.ok) return result;
    return { ...result, value: result.value.filter((message) => !this.bots.refuse(message, botId, roster)) };
  }

  /** A message addressed to another bot (`@name`, or the room's default) is refused with 409. */
  claim(
    call: RoomCall,
    messageId: string,
    botId: string,
    leaseMs: number,
    roster: string[] = [],
  ): Promise<RoomResult<Message>> {
    const addressed = (message: Message) => this.bots.refuse(message, botId, roster);
    return this.answered(() =>
      this.botCall(botId, "thinking", this.ops.claim(call, messageId, botId, leaseMs, addressed)),
    );
  }

  /** The operator changed this room's bots or default (pushed by the Control object). */
  async configureBots(config: RoomBots): Promise<void> {
    this.bots.set(config);
    this.sockets.presence.changed();
  }

  release(call: RoomCall, messageId: string, botId: string): Promise<RoomResult<Message>> {
    return this.answered(() => this.botCall(botId, "idle", this.ops.release(call, messageId, botId)));
  }

  /** `detail`: the bot's own reason (it may name the model's host), kept for the operator's inspection only. */
  async fail(
    call: RoomCall,
    messageId: string,
    botId: string,
    reason: string,
    detail = reason,
    roster: string[] = [],
  ): Promise<RoomResult<Message>> {
    const addressed = this.addressedElsewhere(messageId, botId, roster);
    if (addressed) return refused(addressed);
    const answer = await this.answered(() =>
      this.botCall(botId, "idle", this.ops.fail(call, messageId, botId, reason)),
    );
    if (answer.ok) this.failures = [{ id: messageId, botId, at: Date.now(), detail }, ...this.failures].slice(0, 20);
    return answer;
  }

  stream(call: RoomCall, input: StreamCall): Promise<RoomResult<StreamAck>> {
    return this.answered(() => this.botCall(input.botId, "writing", this.ops.stream(call, input)));
  }

  reply(call: RoomCall, input: NewReply, roster: string[] = []): Promise<RoomResult<Stored & { human: Message }>> {
    const addressed = this.addressedElsewhere(input.replyTo, input.botId, roster);
    if (addressed) return Promise.resolve(refused(addressed));
    return this.answered(() => this.botCall(input.botId, "idle", this.ops.reply(call, input)));
  }

  /**
   * Answering or failing without a claim (allowed once a message waited UNCLAIMED_GRACE_MS) is
   * still only for the bot a message is addressed to; a holder of a live claim got it by the rule.
   */
  private addressedElsewhere(id: string, botId: string, roster: string[]): Refusal | null {
    const message = this.state.view.get(id);
    if (!message || message.kind !== "human" || message.deleted) return null;
    if (message.status === "processing" && message.claimedBy === botId) return null;
    return this.bots.refuse(message, botId, roster);
  }

  /**
   * Operator purge (do mode): removes what `which` selects from the log (purgeLog); answers
   * how many went and how many live messages remain.
   */
  async purge(call: RoomCall, which: Removal): Promise<RoomResult<Purged>> {
    const refusal = await this.flips.enter(call);
    if (refusal) return refused(refusal);
    const removed = this.state.schema ? purgeLog(this.state, which, Date.now(), (ids) => this.retained(ids)) : 0;
    // No heal brings back what the purge removed (a purged message's KV record lives on until it expires).
    if (this.state.schema && which.before && which.before > this.state.purgedBefore()) {
      this.state.transaction(() => this.state.meta.set("purgedBefore", which.before!));
    }
    if (removed) console.log(JSON.stringify({ event: "purge", room: this.state.roomName, removed }));
    return ok({ removed, count: this.state.view.count() });
  }

  /**
   * An operator's cap for this room, kept with its log (and so in force after a restart);
   * answers the cap before and the live messages the room holds.
   */
  async setMaxMessages(maxMessages: number): Promise<{ before: number; count: number }> {
    const before = this.state.limits.maxMessages;
    this.state.ensureSchema();
    this.state.transaction(() => this.state.meta.set("maxMessages", maxMessages));
    this.state.limits = { ...this.state.limits, maxMessages };
    return { before, count: this.state.view.count() };
  }

  /** A flip to kv: stop taking do calls, write everything owed to KV, then the mirror (flips.ts). */
  leaveDoMode(call: RoomCall): Promise<number> {
    return this.answered(() => this.flips.leaveDoMode(call));
  }

  /** Test and operator visibility: what the room holds, and how its KV writes are doing. */
  async inspect(): Promise<RoomInspection> {
    return {
      room: this.state.roomName,
      count: this.state.view.count(),
      maxMessages: this.state.limits.maxMessages,
      lastSeq: this.state.view.lastSeq(),
      active: this.state.active,
      flagVersion: this.state.flagVersion,
      mirroredAt: this.kvSync.mirroredAt,
      sweepReadded: this.flips.sweepReadded,
      skippedOnReconcile: this.state.schema ? Number(this.state.meta.get("skippedOnReconcile") ?? 0) : 0,
      outbox: this.kvSync.stats(),
      usage: this.usage.snapshot(),
      rowsWrittenBy: this.usage.writesByTable(),
      streams: this.streams.stats(),
      failures: this.failures,
    };
  }

  // ---- WebSockets (hibernation API) ----

  override fetch(request: Request): Promise<Response> {
    return this.sockets.accept(request);
  }

  override webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    return this.sockets.message(ws, data);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    try {
      ws.close(code, reason);
    } catch {
      // already closed
    }
    this.sockets.presence.changed();
  }

  override async webSocketError(): Promise<void> {
    this.sockets.presence.changed();
  }

  // ---- the alarm: owed KV writes, the mirror, retention, lapsed stream leases ----

  /**
   * Backstop for everything the post-answer flush could not do: due outbox rows, the mirror,
   * retention, lapsed stream leases. Each part runs even if another fails, and the next
   * alarm is always set for what is still owed (a failed part tries again ALARM_RETRY_MS later).
   */
  override async alarm(): Promise<void> {
    this.usage.count("alarms");
    this.alarms.fired();
    if (!this.state.schema) return;
    const errors: unknown[] = [];
    const part = async <T>(run: () => T | Promise<T>): Promise<T | null> => {
      try {
        return await run();
      } catch (err) {
        errors.push(err);
        return null;
      }
    };
    await part(() => this.kvSync.flushOnAlarm(Date.now()));
    const retentionAt = await part(() => enforceRetention(this.state, Date.now(), (ids) => this.retained(ids)));
    const leaseCheckAt = await part(() => this.ops.interruptLapsedStreams(Date.now()));
    const kvAt = (await part(() => this.kvSync.onAlarm())) ?? [];
    const sweepAt = await part(() => this.flips.sweep(Date.now()));
    const retryAt = errors.length ? Date.now() + ALARM_RETRY_MS : null;
    const next = [...kvAt, retentionAt, leaseCheckAt, sweepAt, retryAt].filter((at): at is number => at !== null);
    if (next.length) await this.alarms.schedule(Math.min(...next));
    if (errors.length) {
      console.log(JSON.stringify({ event: "alarm-error", room: this.state.roomName, errors: errors.map(String) }));
    }
  }

  /** Retention or a purge deleted these messages: the mirror is owed, and replies being written to them end. */
  private retained(ids: string[]): void {
    this.kvSync.markDirty();
    for (const id of ids) this.streams.endFor(id);
  }

  // ---- internals ----

  /** An RPC's pushes go out as it answers, not on a timer (a busy object's timers run late). */
  private answered<T>(call: () => Promise<T>): Promise<T> {
    return this.pushes.answering(call);
  }

  /** A bot call that the room took (in do mode) tells presence what that bot is doing now. */
  private async botCall<T>(botId: string, state: BotState, result: Promise<RoomResult<T>>): Promise<RoomResult<T>> {
    const answer = await result;
    if (answer.ok) this.sockets.presence.botSeen(botId, state, Date.now());
    return answer;
  }
}

// ---- retention ----

// Retention, run by the room's alarm: messages older than ROOM_RETENTION_DAYS are
// deleted (with their claims) a batch at a time, oldest first.
/** Messages retention deletes per alarm run at most: a long backlog goes a batch a second. */
export const RETENTION_BATCH = 500;
/** When everything past the retention is kept for now (leased, or the latest change), look again this late. */
const RETENTION_RECHECK_MS = 3_600_000;
/** A full retention batch: the next one a second later, so a long backlog does not hold the room. */
const RETENTION_BATCH_GAP_MS = 1000;

/** Deletes (in one transaction) up to RETENTION_BATCH messages `which` selects; `deleted` hears which went. */
function removeBatch(state: RoomState, which: Removal, now: number, deleted: (ids: string[]) => void): string[] {
  const ids = state.log.removable(which, now, RETENTION_BATCH);
  if (ids.length) {
    state.transaction(() => state.log.remove(ids));
    deleted(ids);
  }
  return ids;
}

/**
 * An operator purge: everything `which` selects, a batch per transaction, with the same
 * exceptions as retention (the latest change, a message a bot is answering). Answers how many went.
 */
export function purgeLog(state: RoomState, which: Removal, now: number, deleted: (ids: string[]) => void): number {
  let removed = 0;
  for (;;) {
    const ids = removeBatch(state, which, now, deleted);
    removed += ids.length;
    if (ids.length < RETENTION_BATCH) return removed;
  }
}

/**
 * Deletes one batch; answers when to look again (null: retention off, or nothing logged).
 * `deleted` hears which went.
 */
export function enforceRetention(state: RoomState, now: number, deleted: (ids: string[]) => void): number | null {
  const { retentionMs } = state.limits;
  if (!retentionMs) return null;
  const ids = removeBatch(state, { before: now - retentionMs }, now, deleted);
  if (ids.length) console.log(JSON.stringify({ event: "retention", room: state.roomName, deleted: ids.length }));
  if (ids.length === RETENTION_BATCH) return now + RETENTION_BATCH_GAP_MS;
  const oldest = state.log.oldestCreatedAt();
  if (oldest === null) return null;
  return oldest + retentionMs > now ? oldest + retentionMs : now + RETENTION_RECHECK_MS;
}
