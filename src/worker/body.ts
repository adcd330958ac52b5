// Request bodies as the API accepts them: JSON only, and never more than a cap read.
import { StatusError } from "itty-router";

/**
 * POST/PUT bodies must say `content-type: application/json`. A cross-site form or a
 * `text/plain` fetch is a "simple request" browsers send without asking (no CORS
 * preflight); requiring JSON makes every such request fail before it does anything.
 */
export function requireJsonContent(request: Request): void {
  const type = (request.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") {
    throw new StatusError(415, `content-type must be application/json (got ${type ? type.slice(0, 100) : "none"})`);
  }
}

/**
 * An over-long body is read on to its end and dropped (counted, never kept) up to this
 * much: a body cut off mid-upload makes the proxy in front of the Worker answer 500 or
 * reset the connection instead of our 413. Past it (an endless upload) it is cancelled.
 */
export const DRAIN_BYTES = 16 * 1024 * 1024;

async function drain(reader: ReadableStreamDefaultReader<Uint8Array>, read: number): Promise<void> {
  let total = read;
  while (total <= DRAIN_BYTES) {
    const { done, value } = await reader.read();
    if (done) return;
    total += value.byteLength;
  }
  await reader.cancel().catch(() => undefined);
}

/**
 * The body's bytes, at most `max`: a declared Content-Length over it is refused
 * unread, and a body without one (chunked) is read only until it passes the cap;
 * the rest is dropped as it arrives, so an endless upload costs at most `max` bytes of memory.
 */
export async function readCapped(request: Request, max: number): Promise<Uint8Array> {
  const tooLarge = () => new StatusError(413, `body must be at most ${max} bytes`);
  const declared = request.headers.get("content-length");
  if (Number(declared ?? "0") > max) throw tooLarge();
  if (!request.body) return new Uint8Array();
  // A declared length within the cap bounds the body (HTTP frames it by that length): read it whole.
  if (declared !== null && /^\d+$/.test(declared)) {
    const bytes = new Uint8Array(await request.arrayBuffer());
    if (bytes.byteLength > max) throw tooLarge();
    return bytes;
  }
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await drain(reader, total);
      throw tooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return bytes;
}
