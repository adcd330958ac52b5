// fetch with the API's conventions, for every client of the Worker (the page, the
// bot, the lab): JSON bodies, bearer tokens, `{error}` on failure, Retry-After, and
// the room's mode from the X-Cache-Mode header.
import { MODE_HEADER } from "../shared/api";
import type { PathMode } from "../shared/message";

export class HttpError extends Error {
  constructor(
    /** 0 = no answer at all (network error, timeout) */
    readonly status: number,
    message: string,
    /** from Retry-After, when the server asked us to slow down */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = "HttpError";
  }

  /** The request itself is wrong: sending it again cannot help. */
  get isRejection(): boolean {
    // 507: the room is full (ROOM_MAX_MESSAGES); sending again would not help for a long while.
    return (
      (this.status >= 400 && this.status < 500 && this.status !== 408 && this.status !== 429) || this.status === 507
    );
  }

  /** The server is down or broken: worth retrying later. */
  get unavailable(): boolean {
    return this.status === 0 || this.status >= 500;
  }
}

export type ApiResult<T> = { body: T; status: number; mode: PathMode | null };

export type RequestOptions = Omit<RequestInit, "body"> & {
  /** sent as the JSON body */
  json?: unknown;
  /** sent as `Authorization: Bearer <token>` */
  token?: string;
  timeoutMs?: number;
};

export async function requestJson<T>(url: string, options: RequestOptions = {}): Promise<ApiResult<T>> {
  const { json, token, timeoutMs, ...init } = options;
  const headers = new Headers(init.headers);
  headers.set("accept", "application/json");
  if (json !== undefined) headers.set("content-type", "application/json");
  if (token) headers.set("authorization", `Bearer ${token}`);
  let response: Response;
  try {
    response = await fetch(url, {
      ...init,
      headers,
      ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
      ...(timeoutMs ? { signal: AbortSignal.timeout(timeoutMs) } : {}),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new HttpError(0, `no answer (${cause})`);
  }
  const header = response.headers.get(MODE_HEADER);
  const mode = header === "kv" || header === "do" ? header : null;
  let text: string;
  try {
    text = await response.text();
  } catch (err) {
    // The connection broke mid-answer: nothing trustworthy arrived; send again (same id).
    throw new HttpError(0, `answer cut off (${(err as Error).message})`);
  }
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: an error answer's text is reported below; a success must be JSON
  }
  // Every success of this API is a JSON body: anything else is an answer cut off on the way.
  if (response.ok && (body === null || typeof body !== "object"))
    throw new HttpError(0, "answer cut off (no JSON body)");
  if (!response.ok) {
    const reason = (body as { error?: unknown } | null)?.error;
    const retryAfter = Number(response.headers.get("retry-after"));
    throw new HttpError(
      response.status,
      typeof reason === "string" ? reason : text.slice(0, 200) || `HTTP ${response.status}`,
      retryAfter > 0 ? retryAfter * 1000 : undefined,
    );
  }
  return { body: body as T, status: response.status, mode };
}

export function describeError(err: unknown): string {
  if (err instanceof HttpError) return err.status === 0 ? "network error" : err.message;
  return err instanceof Error ? err.message : String(err);
}
