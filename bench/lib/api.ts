// The HTTP calls the lab and the benchmarks make, typed with the shared response
// types, and counted per kind so a run can report requests per delivered message.
import type { CommentsResponse, FlagsResponse, FlipProgress, HealResponse, StatsResponse } from "../../src/shared/api";
import type { Flags } from "../../src/shared/flags";
import type { UsageCounts } from "../../src/shared/usage";
import type { PathMode, Message } from "../../src/shared/message";
import { HttpError, requestJson, type ApiResult } from "../../src/client/http";
import { now } from "./time";

const REQUEST_TIMEOUT_MS = 30_000;

export type RequestKind = "post" | "poll" | "heal" | "read" | "admin";

export { HttpError };

/** Requests made, by kind. Shared by the clients of one page or one lab round. */
export class RequestCounter {
  readonly counts: Record<RequestKind, number> = { post: 0, poll: 0, heal: 0, read: 0, admin: 0 };
  add(kind: RequestKind): void {
    this.counts[kind]++;
  }
  get total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }
}

/** `lastPos` (do mode): the room's newest change position, the `since` that continues from here. */
export type Listing = {
  comments: Message[];
  mode: PathMode;
  requestedAt: number;
  receivedAt: number;
  lastPos?: number;
};

export type ClientOptions = {
  /**
   * Sent with every request. The soak gives each simulated page its own `cf-connecting-ip`,
   * so per-address limits (heals) see one address per page, as they would in production.
   */
  headers?: Record<string, string>;
  /** Told of every request that failed (no answer, 4xx, 5xx), e.g. to count 5xx answers. */
  onError?(kind: RequestKind, err: HttpError): void;
};

export class ChatClient {
  constructor(
    readonly baseUrl: string,
    private readonly tokens: { admin?: string; bot?: string } = {},
    readonly counter = new RequestCounter(),
    private readonly options: ClientOptions = {},
  ) {}

  private async call<T>(
    kind: RequestKind,
    method: string,
    path: string,
    json?: unknown,
    token?: string,
  ): Promise<ApiResult<T>> {
    this.counter.add(kind);
    try {
      const result = await requestJson<T>(`${this.baseUrl}${path}`, {
        method,
        json,
        token,
        timeoutMs: REQUEST_TIMEOUT_MS,
        headers: this.options.headers,
      });
      // Every answer of the API has a JSON body. A 2xx without one was cut off (the Worker
      // died while sending it): no answer, so a post is sent again with its id.
      if (result.body === null) throw new HttpError(0, `no answer (the ${result.status} answer was cut off)`);
      return result;
    } catch (err) {
      if (err instanceof HttpError) this.options.onError?.(kind, err);
      throw err;
    }
  }

  /** A human message, as the page posts it (with a client-chosen id, so a retry cannot duplicate). */
  async post(room: string, text: string, author: string, id?: string): Promise<Message> {
    return (await this.postAnswered(room, text, author, id)).message;
  }

  /** The same post, with the mode of the path that acknowledged it (the X-Cache-Mode header). */
  async postAnswered(
    room: string,
    text: string,
    author: string,
    id?: string,
  ): Promise<{ message: Message; mode: PathMode | null }> {
    const { body, mode } = await this.call<Message>("post", "POST", "/api/comments", {
      room,
      text,
      author,
      ...(id ? { id } : {}),
    });
    return { message: body, mode };
  }

  async list(room: string, limit = 200, since?: number): Promise<Listing> {
    const requestedAt = now();
    const query = `room=${encodeURIComponent(room)}&limit=${limit}${since === undefined ? "" : `&since=${since}`}`;
    const { body } = await this.call<CommentsResponse>("poll", "GET", `/api/comments?${query}`);
    return {
      comments: body.comments,
      mode: body.mode,
      requestedAt,
      receivedAt: now(),
      ...(body.lastPos === undefined ? {} : { lastPos: body.lastPos }),
    };
  }

  async heal(messageId: string, room: string): Promise<HealResponse> {
    return (await this.call<HealResponse>("heal", "POST", "/api/admin/add-to-cache", { messageId, room })).body;
  }

  /** One message's KV record in its room (the heal source); null if it does not exist. */
  async record(id: string, room: string): Promise<Message | null> {
    const query = new URLSearchParams({ room, record: "1" });
    try {
      return (await this.call<Message>("read", "GET", `/api/comments/${encodeURIComponent(id)}?${query}`)).body;
    } catch (err) {
      if (err instanceof HttpError && err.status === 404) return null;
      throw err;
    }
  }

  async health(): Promise<void> {
    await this.call("read", "GET", "/api/health");
  }

  /** The operator flag as it stands. */
  async flags(): Promise<FlagsResponse["flags"]> {
    return (await this.call<FlagsResponse>("admin", "GET", "/api/admin/flags", undefined, this.requireToken("admin")))
      .body.flags;
  }

  /** What the room's Durable Object reports about itself (GET /api/admin/rooms/:room); here only its usage counters are typed. */
  async inspectRoom(room: string): Promise<{ room: string; usage: UsageCounts }> {
    return (
      await this.call<{ room: string; usage: UsageCounts }>(
        "admin",
        "GET",
        `/api/admin/rooms/${encodeURIComponent(room)}`,
        undefined,
        this.requireToken("admin"),
      )
    ).body;
  }

  /** The per-mode counters and the usage report (GET /api/admin/stats). */
  async stats(): Promise<StatsResponse> {
    return (await this.call<StatsResponse>("admin", "GET", "/api/admin/stats", undefined, this.requireToken("admin")))
      .body;
  }

  /** Puts `room` in `mode`, merging into the current flag so other overrides stay. */
  setRoomMode(room: string, mode: PathMode): Promise<void> {
    return oneFlagEditAtATime(async () => {
      const { defaultMode, doPercent, rooms } = await this.flags();
      await this.call(
        "admin",
        "PUT",
        "/api/admin/flags",
        { defaultMode, doPercent, rooms: { ...rooms, [room]: mode } },
        this.requireToken("admin"),
      );
    });
  }

  /** One PUT of the whole flag: 202 means a flip is under way and the same PUT continues it. */
  async putFlagsStep(flags: Flags): Promise<{ status: number; body: FlagsResponse & FlipProgress }> {
    const { status, body } = await this.call<FlagsResponse & FlipProgress>(
      "admin",
      "PUT",
      "/api/admin/flags",
      flags,
      this.requireToken("admin"),
    );
    return { status, body };
  }

  /** Removes the lab's rooms from the flag again, leaving everything else as it was. */
  forgetRooms(names: string[]): Promise<void> {
    return oneFlagEditAtATime(async () => {
      const { defaultMode, doPercent, rooms } = await this.flags();
      const kept = Object.fromEntries(Object.entries(rooms).filter(([name]) => !names.includes(name)));
      await this.call(
        "admin",
        "PUT",
        "/api/admin/flags",
        { defaultMode, doPercent, rooms: kept },
        this.requireToken("admin"),
      );
    });
  }

  private requireToken(kind: "admin" | "bot"): string {
    const token = this.tokens[kind];
    if (!token) throw new Error(`the ${kind} token is needed: pass --${kind}-token or set ${kind.toUpperCase()}_TOKEN`);
    return token;
  }

  /** The room's WebSocket URL (do mode pushes). */
  socketUrl(room: string): string {
    return `${this.baseUrl.replace(/^http/, "ws")}/api/rooms/${encodeURIComponent(room)}/ws`;
  }
}

/**
 * The flag is one document, edited by read-modify-write: two edits at once (the bench runs
 * both modes side by side) would drop one of them. One at a time within this process.
 */
let flagEdits: Promise<unknown> = Promise.resolve();
function oneFlagEditAtATime(edit: () => Promise<void>): Promise<void> {
  const next = flagEdits.then(edit, edit);
  flagEdits = next.catch(() => undefined);
  return next;
}
