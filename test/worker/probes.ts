// Looks into storage and feeds awkward bodies, for the tests that prove a request
// changed nothing (or only what it should).
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import type { Room } from "../../src/room/room";
import { cacheKey } from "../../src/shared/keys";
import { list } from "./helpers";
import { CACHE_SIZE, type Message } from "../../src/shared/message";

/** SQLite rows the room has written since it woke (its usage counters). */
export function rowsWritten(room: string): Promise<number> {
  return runInDurableObject(
    env.ROOM.getByName(room),
    async (instance: Room) => (await instance.inspect()).usage.sqlRowsWritten,
  );
}

/** The room object's own tables (the runtime's internal ones left out): none until its first write. */
export function tables(room: string): Promise<string[]> {
  return runInDurableObject(env.ROOM.getByName(room), (_: Room, state) =>
    state.storage.sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'")
      .toArray()
      .map((row) => row.name),
  );
}

/** Waits (bounded) until the room's post-answer flush has written every owed KV record. */
export async function outboxDrained(room: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await env.ROOM.getByName(room).inspect()).outbox.pending > 0) {
    if (Date.now() > deadline) throw new Error(`outbox of ${room} never drained`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Waits (bounded) until a room owes KV nothing: its outbox is drained and its mirror
 * `cache:<room>` shows its log as it is (the mirror is written by the room's alarm, run here
 * rather than at its time). With retention off (the suite's config) the room then writes
 * nothing more until its next change.
 */
export async function settled(room: string): Promise<void> {
  await outboxDrained(room);
  // The change position too: a renewed claim, or a flip's merge, changes neither id nor status, and its mirror write comes later.
  const shown = (messages: Message[] | null) =>
    (messages ?? []).map((m) => `${m.id}:${m.status}:${m.pos ?? ""}`).join();
  const deadline = Date.now() + 10_000;
  for (;;) {
    const [log, mirror] = await Promise.all([
      list(room, CACHE_SIZE),
      env.CHAT_KV.get<Message[]>(cacheKey(room), "json"),
    ]);
    if (shown(log) === shown(mirror)) return;
    if (Date.now() > deadline) throw new Error(`mirror of ${room} never caught up: ${shown(log)} vs ${shown(mirror)}`);
    await new Promise((r) => setTimeout(r, 20));
    // The alarm set for the mirror (MIRROR_LAG_MS away), run now; with none set this runs nothing.
    await runDurableObjectAlarm(env.ROOM.getByName(room));
  }
}

/** A body without Content-Length (chunked) that never ends: only a reader that stops at the cap can answer. */
export function endlessBody(counter = { pulled: 0 }): ReadableStream<Uint8Array> {
  const chunk = new TextEncoder().encode(`{"text":"${"x".repeat(4096)}`);
  return new ReadableStream({
    pull(controller) {
      counter.pulled += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
}

/**
 * Runs an UPDATE that makes messages older, and keeps the room's retention marks true to it, as
 * a heal of an old message would (retention reads only the seq ranges whose mark holds old ones).
 */
export function backdate(sql: SqlStorage, update: string, ...bindings: SqlStorageValue[]): void {
  sql.exec(update, ...bindings);
  sql.exec(
    `UPDATE retention_marks AS r SET oldest_created_at = (SELECT MIN(m.created_at) FROM messages m
       WHERE m.seq >= r.first_seq AND m.seq < COALESCE((SELECT MIN(n.first_seq) FROM retention_marks n
         WHERE n.first_seq > r.first_seq), ?))`,
    Number.MAX_SAFE_INTEGER,
  );
}
