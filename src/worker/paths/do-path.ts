// The serialized path: every change is one RPC to the room's Durable Object, which
// validates, dedupes and stores it; the Worker reads and writes no KV for it.
import type { Removal } from "../../room/log";
import type { Room } from "../../room/room";
import { failureOf, hashKey, senderOf, type RoomCall, type RoomResult } from "../../room/calls";
import { newMessageId } from "../../shared/message";
import { StatusError } from "../http";
import type { StreamCall } from "../../shared/stream";
import type {
  AskerInput,
  EditInput,
  HumanInput,
  ListQuery,
  ReactInput,
  RegenerateInput,
  ReplyInput,
  RoomPath,
} from "./path";

/** The room has left do mode (a stale flag sent us here): rerun the call on the kv path. */
export class RoomLeftDoMode extends StatusError {
  constructor(error: string) {
    super(409, { error, mode: "kv" });
  }
}

/**
 * A room that threw. A passing failure (reset, evicted mid-call, overloaded, a storage
 * timeout) may or may not have committed: 503, "retry with the same id", which the room
 * dedupes. A bug (failureOf in calls.ts) is 500 with an error id: the same call would fail again.
 */
export class RoomUnavailable extends StatusError {
  constructor(cause: unknown) {
    const { status, error, retryAfter, errorId } = failureOf(cause);
    super(status, { error, mode: "do", ...(retryAfter ? { retryAfter } : {}), ...(errorId ? { errorId } : {}) });
  }
}

async function unwrap<T>(call: Promise<RoomResult<T>>): Promise<T> {
  let result: RoomResult<T>;
  try {
    result = await call;
  } catch (err) {
    throw new RoomUnavailable(err);
  }
  if (result.ok) return result.value;
  if (result.mode === "kv") throw new RoomLeftDoMode(result.error);
  throw new StatusError(result.status, {
    error: result.error,
    mode: "do",
    ...(result.retryAfter ? { retryAfter: result.retryAfter } : {}),
  });
}

/** What the room checks the asker by: the hash of the edit key, never the key. */
async function proofOf({ editKey, privileged }: AskerInput) {
  return { privileged, ...(editKey ? { editKeyHash: await hashKey(editKey) } : {}) };
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
    const message = { id: input.id ?? newMessageId(), text: input.text, author: input.author ?? "anonymous" };
    const editKeyHash = input.editKey ? await hashKey(input.editKey) : undefined;
    // The sender counts for the bot's turns and cap: a person's client key (token holders have none).
    const sender = input.creator ? { sender: await senderOf(input.creator), capped: !input.capExempt } : {};
    return unwrap(
      this.room.post(this.call, { ...message, ...(editKeyHash ? { editKeyHash } : {}), ...sender }, input.creator),
    );
  }
  async stop(humanId: string, asker: AskerInput) {
    return unwrap(this.room.stop(this.call, humanId, await proofOf(asker)));
  }
  async regenerate({ id, requestId, ...asker }: RegenerateInput) {
    return unwrap(this.room.regenerate(this.call, { id, requestId, ...(await proofOf(asker)) }));
  }
  async edit({ editKey, ...input }: EditInput) {
    return unwrap(this.room.edit(this.call, { ...input, editKeyHash: await hashKey(editKey) }));
  }
  async versions(id: string) {
    return unwrap(this.room.versions(this.call, id));
  }
  async react({ reactorKey, ...input }: ReactInput) {
    return unwrap(this.room.react(this.call, { ...input, reactorHash: await hashKey(reactorKey) }));
  }
  async reply(input: ReplyInput) {
    const author = input.author ?? "bot";
    const reply = {
      id: input.id ?? newMessageId(),
      replyTo: input.replyTo,
      text: input.text,
      author,
      botId: input.botId ?? author,
      ...(input.stopped ? { stopped: true } : {}),
    };
    return unwrap(this.room.reply(this.call, reply, input.roster));
  }
  async get(id: string) {
    return unwrap(this.room.get(this.call, id));
  }
  async list({ limit, since, before }: ListQuery) {
    if (before !== undefined) return unwrap(this.room.listBefore(this.call, before, limit));
    return unwrap(this.room.list(this.call, limit, since));
  }
  async heal(record: Parameters<RoomPath["heal"]>[0]) {
    return unwrap(this.room.heal(this.call, record));
  }
  async pending(botId?: string, roster?: string[]) {
    return unwrap(this.room.pending(this.call, botId, roster));
  }
  async claim(messageId: string, botId: string, leaseMs: number, roster?: string[]) {
    return unwrap(this.room.claim(this.call, messageId, botId, leaseMs, roster));
  }
  async release(messageId: string, botId: string) {
    return unwrap(this.room.release(this.call, messageId, botId));
  }
  async fail(messageId: string, botId: string, reason: string, detail?: string, roster?: string[]) {
    return unwrap(this.room.fail(this.call, messageId, botId, reason, detail, roster));
  }
  async stream(input: StreamCall) {
    return unwrap(this.room.stream(this.call, input));
  }
  async delete(id: string) {
    return unwrap(this.room.deleteMessage(this.call, id));
  }
  async purge(which: Removal) {
    return unwrap(this.room.purge(this.call, which));
  }
}
