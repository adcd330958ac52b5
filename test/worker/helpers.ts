// Test helpers: requests go through the real Worker entry (exports.default.fetch).
import { env, exports } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { allShards, registryFor, type RoomRegistry } from "../../src/control/registry";
import type { Flags } from "../../src/shared/flags";
import type { ClientFrame, ServerFrame } from "../../src/shared/frames";
import type { Message } from "../../src/shared/message";
import { expect } from "vitest";

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
  return call(path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
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

/** `room`: where the message was posted (records are kept per room). */
export async function heal(messageId: string, room: string, ip = "203.0.113.1"): Promise<Response> {
  return postJson("/api/admin/add-to-cache", { messageId, room }, { "cf-connecting-ip": ip });
}

export async function getFlags(): Promise<Flags & { version: number }> {
  const res = await call("/api/admin/flags", { headers: ADMIN });
  return (await res.json<{ flags: Flags & { version: number } }>()).flags;
}

export async function setFlags(flags: Flags): Promise<Response> {
  return call("/api/admin/flags", {
    method: "PUT",
    headers: { ...ADMIN, "content-type": "application/json" },
    body: JSON.stringify(flags),
  });
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

/**
 * A room socket through the Worker, collecting frames; `next` waits (5 s at most) for a
 * matching one. `headers`: e.g. `cf-connecting-ip` (the client key) or `origin`.
 */
export async function connect(room: string, headers: Record<string, string> = {}) {
  const res = await call(`/api/rooms/${room}/ws`, { headers: { upgrade: "websocket", ...headers } });
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  const frames: ServerFrame[] = [];
  const waiters: (() => void)[] = [];
  let closed: { code: number; reason: string } | null = null;
  ws.addEventListener("message", (event) => {
    frames.push(JSON.parse(event.data as string) as ServerFrame);
    waiters.splice(0).forEach((w) => w());
  });
  ws.addEventListener("close", (event) => {
    closed = { code: event.code, reason: event.reason };
    waiters.splice(0).forEach((w) => w());
  });
  ws.accept();
  const next = async <F extends ServerFrame>(match: (f: ServerFrame) => f is F): Promise<F> => {
    for (;;) {
      const found = frames.find(match);
      if (found) return found;
      await new Promise<void>((resolve, reject) => {
        waiters.push(resolve);
        setTimeout(() => reject(new Error(`no matching frame; got ${JSON.stringify(frames)}`)), 5000);
      });
    }
  };
  const send = (frame: ClientFrame | Record<string, unknown>) => ws.send(JSON.stringify(frame));
  /** The ack or nack answering the send of `id`. */
  const answer = (id: string) =>
    next(
      (f): f is Extract<ServerFrame, { type: "ack" | "nack" }> =>
        (f.type === "ack" || f.type === "nack") && f.id === id,
    );
  /** Resolves with the close code and reason once the room closed the socket. */
  const whenClosed = async () => {
    while (!closed)
      await new Promise<void>((resolve, reject) => {
        waiters.push(resolve);
        setTimeout(() => reject(new Error("socket not closed")), 5000);
      });
    return closed;
  };
  return { ws, frames, next, send, answer, whenClosed, mode: res.headers.get("X-Cache-Mode") };
}

/** A frame of the given type (a type guard for `next`). */
export const frameOf =
  <T extends ServerFrame["type"]>(type: T) =>
  (f: ServerFrame): f is Extract<ServerFrame, { type: T }> =>
    f.type === type;

/** Whether the room's registry shard lists it among the do rooms a flip must flush. */
export function listedInRegistry(room: string): Promise<boolean> {
  return runInDurableObject(
    registryFor(env, room),
    (_: RoomRegistry, state) =>
      state.storage.sql.exec("SELECT name FROM do_rooms WHERE name = ?", room).toArray().length > 0,
  );
}

/** Every room the registry shards list, in name order. */
export async function registeredRooms(): Promise<string[]> {
  const lists = await Promise.all(
    allShards(env).map((shard) =>
      runInDurableObject(shard, (_: RoomRegistry, state) =>
        state.storage.sql
          .exec<{ name: string }>("SELECT name FROM do_rooms")
          .toArray()
          .map((r) => r.name),
      ),
    ),
  );
  return lists.flat().sort();
}
