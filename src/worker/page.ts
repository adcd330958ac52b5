// Security headers for the static page: user text is only ever rendered as text,
// and the CSP makes sure nothing else can run even if that rule were broken.
import { errorResponse } from "./http";

const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join("; ");

/**
 * Every answer (API, page, asset, error) says its content type is the only one: a browser
 * must never sniff a JSON error or an upload as HTML. A socket's 101 keeps its own headers.
 */
export async function withNoSniff(pending: Promise<Response>): Promise<Response> {
  const response = await pending.catch(errorResponse);
  if (response.webSocket || response.status === 101) return response;
  if (response.headers.get("x-content-type-options") === "nosniff") return response;
  const headers = new Headers(response.headers);
  headers.set("x-content-type-options", "nosniff");
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

export async function withPageHeaders(pending: Promise<Response>): Promise<Response> {
  const response = await pending;
  const headers = new Headers(response.headers);
  headers.set("content-security-policy", CONTENT_SECURITY_POLICY);
  headers.set("x-content-type-options", "nosniff");
  headers.set("referrer-policy", "no-referrer");
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}
