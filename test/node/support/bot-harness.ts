// Helpers for the bot tests: a small API client playing the chat page and the operator,
// a log capture for in-process bots, and waiting for a condition with a clear failure.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type {
  BotFailure,
  CommentsResponse,
  DeleteResponse,
  HealResponse,
  StatsResponse,
} from "../../../src/shared/api";
import type { Flags } from "../../../src/shared/flags";
import type { Message } from "../../../src/shared/message";

/** Polls `check` until it returns a value other than undefined/false; fails with `what` after the deadline. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 60_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ""}`);
}

export class LogCapture {
  readonly lines: string[] = [];
  readonly log = (line: string): void => {
    this.lines.push(line);
    if (process.env.BOT_TEST_VERBOSE) console.log(line);
  };
  matching(pattern: string | RegExp): string[] {
    return this.lines.filter((l) => (typeof pattern === "string" ? l.includes(pattern) : pattern.test(l)));
  }
  has(pattern: string | RegExp): boolean {
    return this.matching(pattern).length > 0;
  }
  waitFor(pattern: string | RegExp, timeoutMs = 60_000): Promise<string> {
    return waitFor(`log line ${String(pattern)}`, () => this.matching(pattern)[0], timeoutMs, 50);
  }
}

export function tempStateFile(): string {
  return join(mkdtempSync(join(tmpdir(), "bot-state-")), "state.json");
}

/** The page's and the operator's side of the API. */
export class TestClient {
  constructor(
    readonly url: string,
    private readonly adminToken: string,
  ) {}

  private async call<T>(method: string, path: string, body?: unknown, token?: string): Promise<T> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }

  post(room: string, text: string, author = "tester"): Promise<Message> {
    return this.call("POST", "/api/comments", { room, text, author });
  }

  async comments(room: string): Promise<Message[]> {
    return (await this.call<CommentsResponse>("GET", `/api/comments?room=${room}&limit=200`)).comments;
  }

  /** The message's KV record in its room (the heal source). */
  record(id: string, room: string): Promise<Message> {
    return this.call("GET", `/api/comments/${id}?room=${room}&record=1`);
  }

  heal(id: string, room: string): Promise<HealResponse> {
    return this.call("POST", "/api/admin/add-to-cache", { messageId: id, room });
  }

  setFlags(flags: Flags): Promise<unknown> {
    return this.call("PUT", "/api/admin/flags", flags, this.adminToken);
  }

  stats(): Promise<StatsResponse> {
    return this.call("GET", "/api/admin/stats", undefined, this.adminToken);
  }

  /** The operator deletes a message (DELETE /api/admin/messages/:id). */
  deleteMessage(room: string, id: string): Promise<DeleteResponse> {
    return this.call("DELETE", `/api/admin/messages/${id}?room=${room}`, undefined, this.adminToken);
  }

  /** The bot's own reason for giving up on a message, as operators see it (the room's inspection). */
  async failureDetail(room: string, id: string): Promise<string | undefined> {
    const inspected = await this.call<{ failures: BotFailure[] }>(
      "GET",
      `/api/admin/rooms/${room}`,
      undefined,
      this.adminToken,
    );
    return inspected.failures.find((f) => f.id === id)?.detail;
  }

  claim(messageId: string, botId: string): Promise<unknown> {
    return this.call("POST", "/api/bot/claim", { messageId, botId }, this.adminToken);
  }
}

/** The AI replies in `messages`, grouped by the human message they answer. */
export function repliesByHuman(messages: Message[]): Map<string, Message[]> {
  const byHuman = new Map<string, Message[]>();
  for (const m of messages) {
    if (m.kind !== "ai" || !m.replyTo) continue;
    byHuman.set(m.replyTo, [...(byHuman.get(m.replyTo) ?? []), m]);
  }
  return byHuman;
}
