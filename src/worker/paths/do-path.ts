// The serialized path: every change is one RPC to the room's Durable Object.
import type { Message } from "../../shared/message";
import type { Room, RoomCall, RoomResult } from "../../room/room";
import { StatusError } from "../http";
import type { ListQuery, RoomPath } from "./path";

function unwrap<T>(result: RoomResult<T>): T {
  if (!result.ok) throw new StatusError(result.status, { error: result.error, mode: "do" });
  return result.value;
}

export class DoPath implements RoomPath {
  readonly mode = "do" as const;
  private readonly room: DurableObjectStub<Room>;
  private readonly call: RoomCall;

  constructor(namespace: DurableObjectNamespace<Room>, room: string, flagVersion: number) {
    this.room = namespace.getByName(room);
    this.call = { room, flagVersion };
  }

  append(message: Message) {
    return this.room.append(this.call, message);
  }
  list({ limit, since }: ListQuery) {
    return this.room.list(this.call, limit, since);
  }
  heal(record: Message) {
    return this.room.heal(this.call, record);
  }
  pending(now: number) {
    return this.room.pending(this.call, now);
  }
  async claim(messageId: string, botId: string, leaseMs: number, now: number) {
    return unwrap(await this.room.claim(this.call, messageId, botId, leaseMs, now));
  }
  async release(messageId: string, botId: string) {
    return unwrap(await this.room.release(this.call, messageId, botId));
  }
  async fail(messageId: string, botId: string, reason: string, now: number) {
    return unwrap(await this.room.fail(this.call, messageId, botId, reason, now));
  }
  async reply(ai: Message, human: Message, botId: string) {
    return unwrap(await this.room.reply(this.call, ai, human, botId, Date.now()));
  }
}
