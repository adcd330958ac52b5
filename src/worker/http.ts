// JSON responses, errors and body parsing. Every error leaves as `{ "error": "..." }`.
import { StatusError } from "itty-router";
import type { z } from "zod";
import { describeZodError } from "../shared/schemas";
import { MODE_HEADER } from "../shared/api";
import type { PathMode } from "../shared/message";
import { readCapped, requireJsonContent } from "./body";

export const MAX_BODY_BYTES = 16 * 1024;

export { StatusError };

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      ...headers,
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
    },
  });
}

/** A JSON response for one room, labelled with the path that served it. */
export function roomJson(mode: PathMode, body: unknown, status = 200): Response {
  return json(body, status, { [MODE_HEADER]: mode });
}

export function errorResponse(err: unknown): Response {
  if (err instanceof StatusError) {
    const headers: Record<string, string> = {};
    if (typeof err.retryAfter === "number") headers["retry-after"] = String(err.retryAfter);
    if (typeof err.mode === "string") headers[MODE_HEADER] = err.mode;
    return json(
      { error: err.message, ...(typeof err.errorId === "string" ? { errorId: err.errorId } : {}) },
      err.status,
      headers,
    );
  }
  // A bug of the Worker: the id ties the answer to its log line.
  const errorId = crypto.randomUUID();
  console.log(JSON.stringify({ event: "error", errorId, error: String(err), stack: (err as Error)?.stack }));
  return json({ error: `internal error ${errorId}`, errorId }, 500);
}

export function parseWith<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new StatusError(400, describeZodError(result.error));
  return result.data;
}

/** Reads a JSON body of at most 16 KB and validates it; 415 / 413 / 400 otherwise. */
export async function readJson<S extends z.ZodType>(request: Request, schema: S): Promise<z.infer<S>> {
  requireJsonContent(request);
  const raw = await readCapped(request, MAX_BODY_BYTES);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw new StatusError(400, "body must be valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new StatusError(400, "body must be a JSON object");
  }
  return parseWith(schema, value);
}

export function log(event: string, fields: Record<string, unknown>): void {
  console.log(JSON.stringify({ event, at: Date.now(), ...fields }));
}
