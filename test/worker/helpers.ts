// Test helpers: requests go through the real Worker entry (exports.default.fetch).
import { env, exports } from "cloudflare:workers";
import type { Flags } from "../../src/shared/flags";
import type { Message } from "../../src/shared/message";

export const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}` };
export const BOT = { authorization: `Bearer ${env.BOT_TOKEN}` };

let counter = 0;
/** Storage is shared by the tests of one file, so each test takes fresh room names. */
export function uniqueRoom(prefix = "room"): string {
  return `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}`;
}

export function call(path: string, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(new Request(`http://chat.test${path}`, init));
}

export function postJson(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return call(path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
}

export async function post(room: string, text: string, extra: Record<string, unknown> = {}): Promise<Message> {
  const res = await postJson("/api/comments", { room, text, ...extra });
  if (res.status !== 201 && res.status !== 200) throw new Error(`post failed ${res.status}: ${await res.text()}`);
  return res.json();
}

export async function list(room: string, limit = 200): Promise<Message[]> {
  const res = await call(`/api/comments?room=${room}&limit=${limit}`);
  const body = await res.json<{ comments: Message[] }>();
  return body.comments;
}

export async function heal(messageId: string, ip = "203.0.113.1"): Promise<Response> {
  return postJson("/api/admin/add-to-cache", { messageId }, { "cf-connecting-ip": ip });
}

export async function getFlags(): Promise<Flags & { version: number }> {
  const res = await call("/api/admin/flags", { headers: ADMIN });
  return (await res.json<{ flags: Flags & { version: number } }>()).flags;
}

export async function setFlags(flags: Flags): Promise<Response> {
  return call("/api/admin/flags", { method: "PUT", headers: { ...ADMIN, "content-type": "application/json" }, body: JSON.stringify(flags) });
}

/** Sets one room's mode, keeping every other override. */
export async function setRoomMode(room: string, mode: "kv" | "do"): Promise<void> {
  const { defaultMode, doPercent, rooms } = await getFlags();
  const res = await setFlags({ defaultMode, doPercent, rooms: { ...rooms, [room]: mode } });
  if (res.status !== 200) throw new Error(`flag change failed ${res.status}: ${await res.text()}`);
}

export function ids(messages: Message[]): string[] {
  return messages.map((m) => m.id);
}
