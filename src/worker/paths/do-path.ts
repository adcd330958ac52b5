// The serialized path: every change is one RPC to the room's Durable Object, which
// validates, dedupes and stores it; the Worker reads and writes no KV for it.
import type { Room, RoomCall, RoomResult } from "../../room/room";
import { newMessageId } from "../../shared/message";
import { StatusError } from "../http";
import type { HumanInput, ListQuery, ReplyInput, RoomPath } from "./path";

/** The room has left do mode (a stale flag sent us here): rerun the call on the kv path. */
export class RoomLeftDoMode extends StatusError {
  constructor(error: string) {
    super(409, { error, mode: "kv" });
  }
}

function unwrap<T>(result: RoomResult<T>): T {
  if (result.ok) return result.value;
  if (result.mode === "kv") throw new RoomLeftDoMode(result.error);
  throw new StatusError(result.status, { error: result.error, mode: "do" });
}

export class DoPath implements RoomPath {
  readonly mode = "do" as const;
  private readonly room: DurableObjectStub<Room>;
  private readonly call: RoomCall;

  constructor(namespace: DurableObjectNamespace<Room>, room: string, flagVersion: number) {
    this.room = namespace.getByName(room);
    this.call = { room, flagVersion };
  }

  async post(input: HumanInput) {
    return unwrap(await this.room.post(this.call, { id: input.id ?? newMessageId(), text: input.text, author: input.author ?? "anonymous" }));
  }
  async reply(input: ReplyInput) {
    const author = input.author ?? "bot";
    return unwrap(await this.room.reply(this.call, { id: input.id ?? newMessageId(), replyTo: input.replyTo, text: input.text, author, botId: input.botId ?? author }));
  }
  async get(id: string) {
    return unwrap(await this.room.get(this.call, id));
  }
  async list({ limit, since }: ListQuery) {
    return unwrap(await this.room.list(this.call, limit, since));
  }
  async heal(record: Parameters<RoomPath["heal"]>[0]) {
    return unwrap(await this.room.heal(this.call, record));
  }
  async pending() {
    return unwrap(await this.room.pending(this.call));
  }
  async claim(messageId: string, botId: string, leaseMs: number) {
    return unwrap(await this.room.claim(this.call, messageId, botId, leaseMs));
  }
  async release(messageId: string, botId: string) {
    return unwrap(await this.room.release(this.call, messageId, botId));
  }
  async fail(messageId: string, botId: string, reason: string) {
    return unwrap(await this.room.fail(this.call, messageId, botId, reason));
  }
}
