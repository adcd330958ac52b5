// Usage counters (src/storage/usage.ts) as the cost bench reads them: SQLite rows from the
// cursors, KV operations per key, Durable Object requests, socket messages and alarms in the
// Room (inspect), the shared objects' own operations and the Worker's KV operations (stats).
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Room } from "../../src/room/room";
import type { StatsResponse } from "../../src/shared/api";
import type { UsageCounts, UsageReport } from "../../src/shared/usage";
import { Usage } from "../../src/storage/usage";
import { LOCAL_FLUSH_MS } from "../../src/control/stats";
import { newMessageId } from "../../src/shared/message";
import { ADMIN, call, connect, frameOf, post, setRoomMode, uniqueRoom } from "./helpers";

const inspect = (room: string) => env.ROOM.getByName(room).inspect();
const usageReport = async (): Promise<UsageReport> =>
  (await (await call("/api/admin/stats", { headers: ADMIN })).json<StatsResponse>()).usage!;

/** Stats reach the local store in batches after the answer: wait (bounded) until `done` holds. */
async function usageUntil(done: (u: UsageReport) => boolean): Promise<UsageReport> {
  const deadline = Date.now() + 3 * LOCAL_FLUSH_MS;
  for (;;) {
    const usage = await usageReport();
    if (done(usage) || Date.now() > deadline) return usage;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const minus = (a: UsageCounts, b: UsageCounts) =>
  Object.fromEntries(
    Object.entries(a)
      .filter(([k]) => k !== "since")
      .map(([k, v]) => [k, (v as number) - (b[k as keyof UsageCounts] as number)]),
  ) as Omit<UsageCounts, "since">;

describe("Usage wrappers", () => {
  it("counts SQLite rows from each statement's cursor, the last one included", async () => {
    const stub = env.ROOM.getByName(uniqueRoom("sql-count"));
    const counted = await runInDurableObject(stub, (_: Room, state) => {
      const usage = new Usage();
      const sql = usage.countingSql(state.storage.sql);
      sql.exec(`CREATE TABLE IF NOT EXISTS usage_probe (n INTEGER)`);
      const before = usage.snapshot();
      sql.exec(`INSERT INTO usage_probe (n) VALUES (1), (2), (3)`);
      sql.exec(`UPDATE usage_probe SET n = n + 10 WHERE n > 1`);
      const rows = sql.exec<{ n: number }>(`SELECT n FROM usage_probe ORDER BY n`).toArray();
      return { before, after: usage.snapshot(), rows: rows.map((r) => r.n) };
    });
    expect(counted.rows).toEqual([1, 12, 13]);
    // 3 inserted + 2 updated; the SELECT (the open cursor) reads 3.
    expect(counted.after.sqlRowsWritten - counted.before.sqlRowsWritten).toBe(5);
    expect(counted.after.sqlRowsRead - counted.before.sqlRowsRead).toBeGreaterThanOrEqual(3);
  });

  it("counts KV reads per key (a bulk read of 3 is 3), writes, deletes and lists", async () => {
    const usage = new Usage();
    const kv = usage.countingKv(env.CHAT_KV);
    const prefix = `usage-probe-${uniqueRoom()}`;
    await kv.put(`${prefix}:a`, "1");
    await kv.put(`${prefix}:b`, "2");
    const bulk = await kv.get([`${prefix}:a`, `${prefix}:b`, `${prefix}:missing`]);
    expect(await kv.get(`${prefix}:a`)).toBe("1");
    expect((await kv.list({ prefix })).keys).toHaveLength(2);
    await kv.delete(`${prefix}:a`);
    expect(bulk.get(`${prefix}:b`)).toBe("2");
    expect(usage.kv()).toEqual({ kvReads: 4, kvWrites: 2, kvDeletes: 1, kvLists: 1 });
  });
});

describe("Room usage (inspect)", () => {
  it("counts one request per call, rows written per message, KV record writes, socket messages and alarms", async () => {
    const room = uniqueRoom("usage-room");
    await setRoomMode(room, "do");
    await post(room, "first: creates the schema and the marker");
    const before = (await inspect(room)).usage;
    await post(room, "second");
    await post(room, "third");
    const afterPosts = (await inspect(room)).usage;
    const posts = minus(afterPosts, before);
    expect(posts.requests).toBe(2);
    // Each message: its row (and index entries) plus its outbox row, written and later deleted.
    expect(posts.sqlRowsWritten).toBeGreaterThanOrEqual(2 * 2);
    expect(posts.socketMessages).toBe(0);

    const socket = await connect(room);
    await socket.next(frameOf("hello"));
    socket.send({ type: "send", id: newMessageId(), text: "over the socket", author: "t" });
    await socket.next(frameOf("ack"));
    socket.ws.close();
    const afterSocket = (await inspect(room)).usage;
    expect(minus(afterSocket, afterPosts)).toMatchObject({ socketMessages: 1, requests: 1 });

    expect(await runDurableObjectAlarm(env.ROOM.getByName(room))).toBe(true);
    const afterAlarm = (await inspect(room)).usage;
    expect(afterAlarm.alarms - afterSocket.alarms).toBe(1);
    expect(afterAlarm.alarmsSet).toBeGreaterThan(0);
    // Three messages' records (and the marker) were written by the room's outbox, not the Worker.
    expect(afterAlarm.kvWrites).toBeGreaterThanOrEqual(3);
  });
});

describe("Worker usage and the shared objects (GET /api/admin/stats)", () => {
  it("counts the Worker's KV operations by mode through the stats store, with no call to Control or the registry per message", async () => {
    const room = uniqueRoom("usage-kv");
    const doRoom = uniqueRoom("usage-do");
    await setRoomMode(room, "kv");
    await setRoomMode(doRoom, "do");
    await post(room, "warm: marker and flag read");
    await post(doRoom, "warm: registers the room");
    const before = await usageUntil((u) => u.worker.kv.kvWrites > 0);
    await post(room, "counted");
    for (let i = 0; i < 5; i++) await post(doRoom, `do ${i}`);
    const after = await usageUntil((u) => u.worker.kv.kvWrites - before.worker.kv.kvWrites >= 2);
    // A kv post: its record and the read-modify-write of cache:<room>.
    expect(after.worker.kv.kvWrites - before.worker.kv.kvWrites).toBe(2);
    expect(after.worker.kv.kvReads - before.worker.kv.kvReads).toBeGreaterThanOrEqual(2);
    // The stats went to the local store, in batches; neither shared object heard of the posts.
    expect(after.localStats!.requests).toBeGreaterThan(before.localStats!.requests);
    expect(after.control.since).toBe(before.control.since);
    expect(after.control.requests).toBe(before.control.requests);
    expect(after.registry.requests).toBe(before.registry.requests);
  });
});
