// HTTP client for the Worker's API, typed with the shared response types.
import type { ClaimResponse, CommentsResponse, HealResponse, PendingResponse, RoomsResponse } from "../src/shared/api";
import type { Message } from "../src/shared/message";

const REQUEST_TIMEOUT_MS = 15_000;

/** A refused or failed call. status 0 = no answer at all (network error, timeout). */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly retryAfterMs?: number) {
    super(message);
    this.name = "ApiError";
  }
  /** The Worker is down or broken: worth retrying later. */
  get unavailable(): boolean {
    return this.status === 0 || this.status >= 500;
  }
}

export type ReplyInput = { id: string; replyTo: string; text: string; author: string; botId: string };

export class ChatApi {
  /** @param onAnswer called whenever the Worker answers at all (any status), to notice it is back */
  constructor(private readonly baseUrl: string, private readonly token: string, private readonly onAnswer: () => void = () => {}) {}

  private async call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<{ status: number; body: T }> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new ApiError(0, `${method} ${path}: no answer from ${this.baseUrl} (${cause})`);
    }
    if (res.status < 500) this.onAnswer();
    const text = await res.text().catch(() => "");
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: reported below if the status is an error
    }
    if (!res.ok) {
      const reason = (parsed as { error?: unknown } | undefined)?.error;
      const retryAfter = Number(res.headers.get("retry-after"));
      throw new ApiError(
        res.status,
        `${method} ${path}: ${res.status} ${typeof reason === "string" ? reason : text.slice(0, 200) || res.statusText}`,
        Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
      );
    }
    return { status: res.status, body: parsed as T };
  }

  async rooms(): Promise<string[]> {
    const { body } = await this.call<RoomsResponse>("GET", "/api/rooms");
    return body.rooms.map((r) => r.name);
  }

  async pending(room: string): Promise<Message[]> {
    const { body } = await this.call<PendingResponse>("GET", `/api/bot/pending?room=${encodeURIComponent(room)}`);
    return body.pending;
  }

  /** The room's recent messages, oldest first. Accepts the seed's bare array as well as `{comments}`. */
  async recent(room: string, limit: number): Promise<Message[]> {
    const { body } = await this.call<CommentsResponse | Message[]>("GET", `/api/comments?room=${encodeURIComponent(room)}&limit=${limit}`);
    return Array.isArray(body) ? body : body.comments;
  }

  /** Takes or renews (same botId) the lease on a human message; 409 if someone else holds it. */
  async claim(messageId: string, botId: string): Promise<ClaimResponse> {
    return (await this.call<ClaimResponse>("POST", "/api/bot/claim", { messageId, botId })).body;
  }

  async release(messageId: string, botId: string): Promise<void> {
    await this.call("POST", "/api/bot/release", { messageId, botId });
  }

  async fail(messageId: string, botId: string, reason: string): Promise<void> {
    await this.call("POST", "/api/bot/fail", { messageId, botId, reason: reason.slice(0, 500) });
  }

  /** Posts an AI reply. The client-chosen id makes a retried post return the stored reply (200), never a second one. */
  async postReply(input: ReplyInput): Promise<{ message: Message; created: boolean }> {
    const { status, body } = await this.call<Message>("POST", "/api/comments", { kind: "ai", ...input });
    return { message: body, created: status === 201 };
  }

  async heal(messageId: string): Promise<HealResponse> {
    return (await this.call<HealResponse>("POST", "/api/admin/add-to-cache", { messageId })).body;
  }
}
