// fetch with the API's conventions: JSON bodies, `{error}` on failure, and the
// room's mode in the X-Cache-Mode header.
import { MODE_HEADER, type ApiError } from "../shared/api";
import type { CacheMode } from "../shared/message";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** from Retry-After, when the server asked us to slow down */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }

  /** The request itself is wrong: sending it again cannot help. */
  get isRejection(): boolean {
    return this.status >= 400 && this.status < 500 && this.status !== 408 && this.status !== 429;
  }
}

export type ApiResult<T> = { body: T; status: number; mode: CacheMode | null };

export async function requestJson<T>(path: string, init: RequestInit & { json?: unknown } = {}): Promise<ApiResult<T>> {
  const { json, ...rest } = init;
  const headers = new Headers(rest.headers);
  headers.set("accept", "application/json");
  if (json !== undefined) headers.set("content-type", "application/json");
  const response = await fetch(path, {
    ...rest,
    headers,
    cache: "no-store",
    ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
  });
  const header = response.headers.get(MODE_HEADER);
  const mode = header === "kv" || header === "do" ? header : null;
  const body = (await response.json().catch(() => null)) as T | ApiError | null;
  if (!response.ok) {
    const message = body && typeof body === "object" && "error" in body ? String(body.error) : `HTTP ${response.status}`;
    const retryAfter = Number(response.headers.get("retry-after"));
    throw new HttpError(response.status, message, retryAfter > 0 ? retryAfter * 1000 : undefined);
  }
  return { body: body as T, status: response.status, mode };
}

export function describeError(err: unknown): string {
  if (err instanceof HttpError) return err.message;
  if (err instanceof TypeError) return "network error";
  return err instanceof Error ? err.message : String(err);
}
