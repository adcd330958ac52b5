// Bearer tokens for the bot and the operator (Worker secrets), compared in constant time.
import { StatusError } from "./http";

export type Role = "bot" | "admin";

async function digest(value: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", new TextEncoder().encode(value));
}

/** Hashing first gives equal lengths, so timingSafeEqual never leaks the token's length. */
async function sameSecret(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([digest(given), digest(expected)]);
  return crypto.subtle.timingSafeEqual(a, b);
}

export async function sha256Hex(value: string): Promise<string> {
  return [...new Uint8Array(await digest(value))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export function bearer(request: Request): string | null {
  const header = request.headers.get("authorization") ?? "";
  const match = /^Bearer\s+(.+)$/i.exec(header);
  return match?.[1]?.trim() ?? null;
}

/** The role the request proves; the admin token also opens bot calls. */
export async function roleOf(request: Request, env: Env): Promise<Role | null> {
  const token = bearer(request);
  if (!token) return null;
  if (env.ADMIN_TOKEN && (await sameSecret(token, env.ADMIN_TOKEN))) return "admin";
  if (env.BOT_TOKEN && (await sameSecret(token, env.BOT_TOKEN))) return "bot";
  return null;
}

export async function requireRole(request: Request, env: Env, role: Role): Promise<void> {
  const has = await roleOf(request, env);
  if (has === "admin" || has === role) return;
  throw new StatusError(401, `missing or wrong bearer token (${role === "admin" ? "ADMIN_TOKEN" : "BOT_TOKEN"})`);
}
