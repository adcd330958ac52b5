// The legacy path, kept faithful to the seed on purpose: every change is a
// read-modify-write of one KV value, `cache:<room>`. Concurrent writers overwrite
// each other (last write wins, no error); the verification layer heals the losses.
// Do not add locks or retries here: the race lab measures exactly this behaviour.
import { CACHE_SIZE, type Message } from "../../shared/message";
import { StatusError } from "../http";
import { refuseClaim, refuseFail, refuseRelease, type Refusal } from "../leases";
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

  async fail(messageId: string, botId: string, reason: string, now: number) {
    return this.update(messageId, (m) => {
      refuseWith(refuseFail(m, botId, now));
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
    if (index < 0) refuseWith({ status: 404, error: "message is not in the room's cache" });
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
