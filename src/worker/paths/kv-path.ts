// The legacy path, kept faithful to the seed on purpose: every change is a
// read-modify-write of one KV value, `cache:<room>`. Concurrent writers overwrite
// each other (last write wins, no error); the verification layer heals the losses.
// Do not add locks or retries here: the race lab measures exactly this behaviour.
import { CACHE_SIZE, type Message } from "../../shared/message";
import { StatusError } from "../http";
import { cacheKey } from "../keys";
import { isClaimable, type ListQuery, type RoomPath } from "./path";

export class KvPath implements RoomPath {
  readonly mode = "kv" as const;
  constructor(private readonly kv: KVNamespace, private readonly room: string) {}

  private async read(): Promise<Message[]> {
    return (await this.kv.get<Message[]>(cacheKey(this.room), "json")) ?? [];
  }

  private async write(list: Message[]): Promise<void> {
    await this.kv.put(cacheKey(this.room), JSON.stringify(list.slice(-CACHE_SIZE)));
  }

  async append(message: Message) {
    const list = await this.read();
    const existing = list.find((m) => m.id === message.id);
    if (existing) return { message: existing, created: false };
    list.push(message);
    await this.write(list);
    return { message, created: true };
  }

  async list({ limit }: ListQuery) {
    const list = await this.read();
    return { comments: list.slice(-limit) };
  }

  async heal(record: Message) {
    const list = await this.read();
    const existing = list.find((m) => m.id === record.id);
    if (existing) return { message: existing, readded: false };
    list.push(record);
    list.sort((a, b) => a.createdAt - b.createdAt);
    await this.write(list);
    return { message: record, readded: true };
  }

  async pending(now: number) {
    return (await this.read()).filter((m) => isClaimable(m, now));
  }

  /** The seed's claim: a read-modify-write of the cached entry, so two bots can both win. */
  async claim(messageId: string, botId: string, leaseMs: number, now: number) {
    return this.update(messageId, (m) => {
      if (m.kind !== "human") throw new StatusError(400, "only human messages can be claimed");
      if (m.status === "complete" || m.status === "failed") throw new StatusError(409, `message is already ${m.status}`);
      if (!isClaimable(m, now) && m.claimedBy !== botId) throw new StatusError(409, `message is claimed by ${m.claimedBy}`);
      return { ...m, status: "processing", claimedBy: botId, leaseUntil: now + leaseMs };
    });
  }

  async release(messageId: string, botId: string) {
    return this.update(messageId, (m) => {
      if (m.status !== "processing" || m.claimedBy !== botId) throw new StatusError(409, "message is not claimed by this bot");
      return { ...m, status: "pending", claimedBy: undefined, leaseUntil: undefined };
    });
  }

  async fail(messageId: string, botId: string, reason: string) {
    return this.update(messageId, (m) => {
      if (m.status === "complete") throw new StatusError(409, "message is already complete");
      if (m.status === "processing" && m.claimedBy !== botId && (m.leaseUntil ?? 0) > Date.now()) {
        throw new StatusError(409, `message is claimed by ${m.claimedBy}`);
      }
      return { ...m, status: "failed", error: reason, claimedBy: undefined, leaseUntil: undefined };
    });
  }

  async reply(ai: Message) {
    const list = await this.read();
    const existing = list.find((m) => m.id === ai.id);
    if (existing) return { message: existing, human: list.find((m) => m.id === ai.replyTo) ?? null, created: false };
    list.push(ai);
    const index = list.findIndex((m) => m.id === ai.replyTo);
    let human: Message | null = null;
    if (index >= 0) {
      human = { ...list[index]!, status: "complete", claimedBy: undefined, leaseUntil: undefined, error: undefined };
      list[index] = human;
    }
    await this.write(list);
    return { message: ai, human, created: true };
  }

  private async update(messageId: string, change: (m: Message) => Message): Promise<Message> {
    const list = await this.read();
    const index = list.findIndex((m) => m.id === messageId);
    if (index < 0) throw new StatusError(404, "message is not in the room's cache");
    const next = change(list[index]!);
    list[index] = next;
    await this.write(list);
    return next;
  }
}
