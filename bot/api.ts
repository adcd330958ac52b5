// HTTP client for the Worker's API, typed with the shared response types.
import type {
  BotRoomsResponse,
  ClaimResponse,
  CommentsResponse,
  HealResponse,
  PendingResponse,
  StreamResponse,
} from "../src/shared/api";
import type { StreamCall } from "../src/shared/stream";
import type { BotMe, ReplyUsage } from "../src/shared/bots";
import type { Message } from "../src/shared/message";
import { HttpError, requestJson } from "../src/client/http";

const REQUEST_TIMEOUT_MS = 15_000;

export { HttpError };

/** `room` is the replied message's: in do mode the room itself finds the message, no KV lookup. */
export type ReplyInput = {
  id: string;
  room: string;
  replyTo: string;
  text: string;
  author: string;
  botId: string;
  stopped?: boolean;
  /** the tokens the reply cost, for the operator's bots list */
  usage?: ReplyUsage;
};
/** The message a bot call is about, and its room. */
export type MessageRef = { id: string; room: string };

export class ChatApi {
  /** @param onAnswer called whenever the Worker answers at all (not 5xx), to notice it is back */
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly onAnswer: () => void = () => {},
  ) {}

  /** The shared client (src/client/http.ts), with the call named in every error for the bot's log. */
  private async call<T>(method: "GET" | "POST", path: string, json?: unknown): Promise<{ status: number; body: T }> {
    try {
      const { status, body } = await requestJson<T>(`${this.baseUrl}${path}`, {
        method,
        json,
        token: this.token,
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
      this.onAnswer();
      return { status, body };
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      if (!err.unavailable) this.onAnswer();
      const what = err.status === 0 ? `${err.message} from ${this.baseUrl}` : `${err.status} ${err.message}`;
      throw new HttpError(err.status, `${method} ${path}: ${what}`, err.retryAfterMs);
    }
  }

  /** Who the token says this bot is (its name, model and rooms), or that it is the legacy BOT_TOKEN. */
  async me(): Promise<BotMe> {
    return (await this.call<BotMe>("GET", "/api/bot/me")).body;
  }

  /**
   * The rooms that may have work for this bot (GET /api/bot/rooms): one listing per page of up to
   * 1000 rooms, read from the room markers, instead of a pending call per room.
   */
  async roomsWithWork(): Promise<string[]> {
    const names: string[] = [];
    let cursor: string | undefined;
    do {
      const next = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const { body } = await this.call<BotRoomsResponse>("GET", `/api/bot/rooms?limit=1000${next}`);
      names.push(...body.rooms.map((r) => r.name));
      cursor = body.cursor;
    } while (cursor);
    return names;
  }

  /** `botId` tells the room who is waiting for work (its presence shows the bot). */
  async pending(room: string, botId: string): Promise<Message[]> {
    const query = `room=${encodeURIComponent(room)}&botId=${encodeURIComponent(botId)}`;
    const { body } = await this.call<PendingResponse>("GET", `/api/bot/pending?${query}`);
    return body.pending;
  }

  /** The room's recent messages, oldest first. Accepts the first version's bare array as well as `{comments}`. */
  async recent(room: string, limit: number): Promise<Message[]> {
    const { body } = await this.call<CommentsResponse | Message[]>(
      "GET",
      `/api/comments?room=${encodeURIComponent(room)}&limit=${limit}`,
    );
    return Array.isArray(body) ? body : body.comments;
  }

  /** Takes or renews (same botId) the lease on a human message; 409 if someone else holds it. */
  async claim(message: MessageRef, botId: string): Promise<ClaimResponse> {
    return (
      await this.call<ClaimResponse>("POST", "/api/bot/claim", { messageId: message.id, room: message.room, botId })
    ).body;
  }

  async release(message: MessageRef, botId: string): Promise<void> {
    await this.call("POST", "/api/bot/release", { messageId: message.id, room: message.room, botId });
  }

  async fail(message: MessageRef, botId: string, reason: string): Promise<void> {
    await this.call("POST", "/api/bot/fail", {
      messageId: message.id,
      room: message.room,
      botId,
      reason: reason.slice(0, 500),
    });
  }

  /** Posts an AI reply. The client-chosen id makes a retried post return the stored reply (200), never a second one. */
  async postReply(input: ReplyInput): Promise<{ message: Message; created: boolean }> {
    const { status, body } = await this.call<Message>("POST", "/api/comments", { kind: "ai", ...input });
    return { message: body, created: status === 201 };
  }

  /** The text of a reply being written, from `offset` on (do rooms; kv rooms answer 409). */
  async stream(input: StreamCall & { room: string }): Promise<StreamResponse> {
    return (await this.call<StreamResponse>("POST", "/api/bot/stream", input)).body;
  }

  /** `room`: where the message was posted (records are kept per room). */
  async heal(messageId: string, room: string): Promise<HealResponse> {
    return (await this.call<HealResponse>("POST", "/api/admin/add-to-cache", { messageId, room })).body;
  }
}
