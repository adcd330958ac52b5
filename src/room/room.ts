// The Room Durable Object: one per room, single-threaded, so every change to the
// room is serialized and none can be lost. It keeps the ordered log and bot claims
// in SQLite, pushes live frames to hibernatable WebSockets, and mirrors the newest
// 200 messages to KV `cache:<room>` (at most once a second) so a flip back to kv loses nothing.
import { DurableObject } from "cloudflare:workers";
import { CACHE_SIZE, type Message } from "../shared/message";
import { PING_FRAME, PONG_FRAME, type ServerFrame } from "../shared/frames";
import { cacheKey } from "../worker/keys";
import { heldByOther, refuseClaim, refuseFail, refuseRelease, type Refusal } from "../worker/leases";
import { applyMigrations } from "./migrations";
import { Meta, RoomLog } from "./log";

/** Who is calling and under which flag version; a newer version triggers a reconcile. */
export type RoomCall = { room: string; flagVersion: number };

export type RoomResult<T> = { ok: true; value: T } | ({ ok: false } & Refusal);

export const MIRROR_INTERVAL_MS = 1000;

const ok = <T>(value: T): RoomResult<T> => ({ ok: true, value });
const fail = (status: Refusal["status"], error: string): RoomResult<never> => ({ ok: false, status, error });
const refused = (refusal: Refusal): RoomResult<never> => ({ ok: false, ...refusal });

export class Room extends DurableObject<Env> {
  private readonly log: RoomLog;
  private readonly meta: Meta;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.meta = new Meta(ctx.storage.sql);
    this.log = new RoomLog(ctx.storage.sql, () => this.meta.get("room") ?? "");
    ctx.blockConcurrencyWhile(async () => {
      ctx.storage.transactionSync(() => applyMigrations(ctx.storage.sql));
    });
    // Pings are answered by the runtime without waking a hibernated room.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
  }

  // ---- RPC methods called by the Worker (do mode) ----

  async append(call: RoomCall, message: Message): Promise<{ message: Message; created: boolean }> {
    await this.enter(call);
    const result = this.log.insert(message);
    if (result.created) await this.changed({ type: "message", message: result.message });
    return result;
  }

  async list(call: RoomCall, limit: number, since?: number): Promise<{ comments: Message[]; lastSeq: number }> {
    await this.enter(call);
    const comments = since === undefined ? this.log.recent(limit) : this.log.after(since, limit);
    return { comments, lastSeq: this.log.lastSeq() };
  }

  async heal(call: RoomCall, record: Message): Promise<{ message: Message; readded: boolean }> {
    await this.enter(call);
    const { message, created } = this.log.insert(record);
    if (created) await this.changed({ type: "message", message });
    return { message, readded: created };
  }

  async pending(call: RoomCall, now: number): Promise<Message[]> {
    await this.enter(call);
    return this.log.claimable(now);
  }

  /** Atomic lease (rules in worker/leases.ts). */
  async claim(call: RoomCall, messageId: string, botId: string, leaseMs: number, now: number): Promise<RoomResult<Message>> {
    await this.enter(call);
    const message = this.log.get(messageId);
    if (!message) return fail(404, "message is not in this room");
    const refusal = refuseClaim(message, botId, now);
    if (refusal) return refused(refusal);
    this.log.setClaim(messageId, botId, now + leaseMs);
    const claimed = this.log.get(messageId)!;
    await this.changed({ type: "update", message: claimed });
    return ok(claimed);
  }

  async release(call: RoomCall, messageId: string, botId: string): Promise<RoomResult<Message>> {
    await this.enter(call);
    const message = this.log.get(messageId);
    if (!message) return fail(404, "message is not in this room");
    const refusal = refuseRelease(message, botId);
    if (refusal) return refused(refusal);
    this.log.setStatus(messageId, "pending");
    const released = this.log.get(messageId)!;
    await this.changed({ type: "update", message: released });
    return ok(released);
  }

  async fail(call: RoomCall, messageId: string, botId: string, reason: string, now: number): Promise<RoomResult<Message>> {
    await this.enter(call);
    const message = this.log.get(messageId);
    if (!message) return fail(404, "message is not in this room");
    const refusal = refuseFail(message, botId, now);
    if (refusal) return refused(refusal);
    this.log.setStatus(messageId, "failed", reason);
    const failed = this.log.get(messageId)!;
    await this.changed({ type: "update", message: failed });
    return ok(failed);
  }

  /**
   * Adds an AI reply and completes its human message in one step. A message gets
   * at most one reply: a second reply from any bot is refused with 409.
   */
  async reply(call: RoomCall, ai: Message, humanRecord: Message, botId: string, now: number): Promise<RoomResult<{ message: Message; human: Message; created: boolean }>> {
    await this.enter(call);
    const same = this.log.get(ai.id);
    if (same) return ok({ message: same, human: this.log.get(humanRecord.id) ?? humanRecord, created: false });
    // The human message may predate this room's do mode and not be logged yet.
    const human = this.log.insert(humanRecord).message;
    if (human.status === "complete") {
      const first = this.log.replyTo(human.id);
      return fail(409, `message was already answered${first ? ` by ${first.id}` : ""}`);
    }
    if (heldByOther(human, botId, now)) return fail(409, `message is claimed by ${human.claimedBy}`);
    const inserted = this.ctx.storage.transactionSync(() => {
      const created = this.log.insert(ai).message;
      this.log.setStatus(human.id, "complete");
      return created;
    });
    const completed = this.log.get(human.id)!;
    await this.changed({ type: "message", message: inserted }, { type: "update", message: completed });
    return ok({ message: inserted, human: completed, created: true });
  }

  /**
   * The room is leaving do mode: write the mirror now so kv writers start from a
   * current `cache:<room>`, stop mirroring (kv writers own the key now), tell clients.
   */
  async leaveDoMode(call: RoomCall): Promise<number> {
    // Only a room that owns the mirror may write it: a room never used in do mode
    // (or not since it last left) holds a stale log, and kv writers own the key.
    const ownsMirror = this.meta.get("flagVersion") !== null && this.meta.get("active") !== "false";
    this.meta.set("room", call.room);
    this.meta.set("flagVersion", call.flagVersion);
    this.meta.set("active", false);
    await this.ctx.storage.deleteAlarm();
    const count = ownsMirror ? await this.writeMirror() : 0;
    this.broadcast({ type: "mode", mode: "kv" });
    return count;
  }

  /** Test and operator visibility: what the room holds and when it last mirrored. */
  async inspect(): Promise<{ room: string; count: number; lastSeq: number; active: boolean; flagVersion: number; mirroredAt: number }> {
    return {
      room: this.meta.get("room") ?? "",
      count: this.log.count(),
      lastSeq: this.log.lastSeq(),
      active: this.meta.get("active") !== "false",
      flagVersion: Number(this.meta.get("flagVersion") ?? -1),
      mirroredAt: Number(this.meta.get("mirroredAt") ?? 0),
    };
  }

  // ---- WebSockets (hibernation API) ----

  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return Response.json({ error: "expected a WebSocket upgrade" }, { status: 426 });
    }
    const room = new URL(request.url).pathname.split("/")[3] ?? "";
    if (!this.meta.get("room")) this.meta.set("room", room);
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    server.send(JSON.stringify({ type: "hello", room, lastSeq: this.log.lastSeq() } satisfies ServerFrame));
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(): Promise<void> {
    // Clients only ping, which the auto-response answers; anything else is ignored.
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    try {
      ws.close(code, reason);
    } catch {
      // already closed
    }
  }

  // ---- mirror to KV ----

  override async alarm(): Promise<void> {
    if (this.meta.get("active") === "false") return;
    await this.writeMirror();
  }

  private async writeMirror(): Promise<number> {
    const room = this.meta.get("room");
    if (!room) return 0;
    // Stamped before the write so a change during the put schedules the next mirror a second later.
    this.meta.set("mirroredAt", Date.now());
    const recent = this.log.recent(CACHE_SIZE);
    await this.env.CHAT_KV.put(cacheKey(room), JSON.stringify(recent));
    return recent.length;
  }

  private async scheduleMirror(): Promise<void> {
    if (this.meta.get("active") === "false") return;
    if ((await this.ctx.storage.getAlarm()) !== null) return;
    const last = Number(this.meta.get("mirroredAt") ?? 0);
    await this.ctx.storage.setAlarm(Math.max(Date.now(), last + MIRROR_INTERVAL_MS));
  }

  // ---- internals ----

  private async changed(...frames: ServerFrame[]): Promise<void> {
    for (const frame of frames) this.broadcast(frame);
    await this.scheduleMirror();
  }

  private broadcast(frame: ServerFrame): void {
    const data = JSON.stringify(frame);
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(data);
      } catch {
        // a closing socket; its close handler cleans up
      }
    }
  }

  /**
   * First use, or first use under a newer flag version: merge `cache:<room>` into the
   * log (the room may have been in kv mode), then own the mirror again.
   */
  private async enter(call: RoomCall): Promise<void> {
    const synced = Number(this.meta.get("flagVersion") ?? -1);
    if (call.flagVersion <= synced) return;
    await this.ctx.blockConcurrencyWhile(async () => {
      if (call.flagVersion <= Number(this.meta.get("flagVersion") ?? -1)) return;
      this.meta.set("room", call.room);
      const cached = (await this.env.CHAT_KV.get<Message[]>(cacheKey(call.room), "json")) ?? [];
      this.ctx.storage.transactionSync(() => {
        for (const message of [...cached].sort((a, b) => a.createdAt - b.createdAt)) {
          const { message: logged, created } = this.log.insert(message);
          const finished = message.status === "complete" || message.status === "failed";
          if (!created && finished && logged.status !== message.status) {
            this.log.setStatus(message.id, message.status, message.error ?? null);
          }
        }
        this.meta.set("flagVersion", call.flagVersion);
        this.meta.set("active", true);
      });
    });
  }
}
