// Inside the Room object: the schema its migrations build, and the KV mirror's pace.
import { env } from "cloudflare:workers";
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { MIGRATIONS, type RoomState } from "../../src/room/log";
import { applyMigrations } from "../../src/storage/migrations";
import type { Room } from "../../src/room/room";
import { MIRROR_LAG_MS } from "../../src/shared/message";
import { commentKey, legacyCommentKey } from "../../src/shared/keys";
import { newMessageId, type Message } from "../../src/shared/message";
import { getFlags, ids, post, setRoomMode, uniqueRoom } from "./helpers";
import { outboxDrained } from "./probes";

describe("Room schema", () => {
  it("applies every migration once, in order, and records the version (on the room's first write)", async () => {
    const room = uniqueRoom("schema");
    await setRoomMode(room, "do");
    await post(room, "first write creates the schema");
    const stub = env.ROOM.getByName(room);
    const schema = await runInDurableObject(stub, (_: Room, state) => {
      const sql = state.storage.sql;
      return {
        versions: sql
          .exec<{ version: number; name: string }>("SELECT version, name FROM _migrations ORDER BY version")
          .toArray(),
        objects: sql
          .exec<{ type: string; name: string; sql: string }>(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY type, name",
          )
          .toArray(),
      };
    });
    expect(schema.versions).toEqual(MIGRATIONS.map(({ version, name }) => ({ version, name })));
    expect(schema.objects).toMatchSnapshot();
  });

  it("keeps every owed KV write when 0008 rebuilds the outbox without a rowid", async () => {
    // A never-written room has no tables: build it up to 0007, owe writes, then upgrade.
    const stub = env.ROOM.getByName(uniqueRoom("outbox-upgrade"));
    const after = await runInDurableObject(stub, (_: Room, state) => {
      const sql = state.storage.sql;
      return state.storage.transactionSync(() => {
        applyMigrations(
          sql,
          MIGRATIONS.filter((m) => m.version <= 7),
        );
        sql.exec(
          `INSERT INTO outbox (key, version, queued_at, attempts, next_at) VALUES ('comment:a', 3, 10, 2, 5000), ('room:r', 1, 11, 0, 0)`,
        );
        applyMigrations(sql, MIGRATIONS);
        return {
          rows: sql.exec(`SELECT key, version, queued_at, attempts, next_at FROM outbox ORDER BY key`).toArray(),
          table: sql.exec<{ sql: string }>(`SELECT sql FROM sqlite_master WHERE name = 'outbox'`).one().sql,
        };
      });
    });
    expect(after.rows).toEqual([
      { key: "comment:a", version: 3, queued_at: 10, attempts: 2, next_at: 5000 },
      { key: "room:r", version: 1, queued_at: 11, attempts: 0, next_at: 0 },
    ]);
    expect(after.table).toMatch(/WITHOUT ROWID$/);
  });
});

describe("0010: the lean message row", () => {
  it("keeps every owed KV write, the leases, earlier texts, reactors and the seq counter", async () => {
    const room = uniqueRoom("lean-upgrade");
    await setRoomMode(room, "do");
    const { version } = await getFlags();
    const stub = env.ROOM.getByName(room);
    const [owed, claimed, edited, done, removed] = Array.from({ length: 5 }, () => newMessageId());
    const leaseUntil = Date.now() + 600_000;
    // A never-written room has no tables: build the schema before 0010 and a log in it, as an older room left it.
    await runInDurableObject(stub, (_: Room, state) => {
      const sql = state.storage.sql;
      state.storage.transactionSync(() => {
        applyMigrations(
          sql,
          MIGRATIONS.filter((m) => m.version <= 9),
        );
        const meta = { room, flagVersion: version, active: true, registered: true, marked: true };
        for (const [key, value] of Object.entries(meta)) {
          sql.exec("INSERT INTO meta (key, value) VALUES (?, ?)", key, String(value));
        }
        const at = Date.now() - 60_000;
        const rows: [string, string, string, number][] = [
          [owed!, "complete", "owed to KV", 1],
          [claimed!, "processing", "being answered", 1],
          [edited!, "pending", "three", 3],
          [done!, "complete", "already in KV", 1],
          [removed!, "complete", "removed since", 1],
        ];
        rows.forEach(([id, status, text, v], i) =>
          sql.exec(
            `INSERT INTO messages (id, kind, author, text, status, created_at, pos, version, reactions)
             VALUES (?, 'human', 'ana', ?, ?, ?, ?, ?, ?)`,
            id,
            text,
            status,
            at + i,
            i + 1,
            v,
            id === edited ? JSON.stringify({ "👍": 2, "🎉": 1 }) : null,
          ),
        );
        // The newest seq is gone: AUTOINCREMENT never gave it again, and neither may the room.
        sql.exec("DELETE FROM messages WHERE id = ?", removed);
        sql.exec("INSERT INTO claims (message_id, bot_id, lease_until) VALUES (?, 'bot-a', ?)", claimed, leaseUntil);
        sql.exec(
          "INSERT INTO message_versions (id, version, text, replaced_at) VALUES (?, 1, 'one', 1), (?, 2, 'two', 2)",
          edited,
          edited,
        );
        sql.exec(
          "INSERT INTO reactions (message_id, emoji, reactor) VALUES (?, '👍', 'r1'), (?, '👍', 'r2'), (?, '🎉', 'r1')",
          edited,
          edited,
          edited,
        );
        for (const id of [owed!, edited!]) {
          sql.exec("INSERT INTO outbox (key, version, queued_at) VALUES (?, 1, ?)", legacyCommentKey(id), at);
        }
      });
    });

    // The next wake migrates, finds the writes owed, and its alarm writes them.
    await evictDurableObject(stub);
    await runDurableObjectAlarm(stub);
    await outboxDrained(room);
    const record = (id: string) => env.CHAT_KV.get<Message>(commentKey(room, id), "json");
    expect(await record(owed!)).toMatchObject({ id: owed, text: "owed to KV", status: "complete" });
    expect(await record(edited!)).toMatchObject({ id: edited, text: "three", version: 3 });
    // What reached KV before the upgrade is not written again.
    expect(await record(done!)).toBeNull();

    const after = await runInDurableObject(stub, (instance: Room) => {
      const { log } = (instance as unknown as { state: RoomState }).state;
      return {
        claimed: log.get(claimed!),
        versions: log.versions(edited!),
        sameReactor: log.react(edited!, "👍", "r1", true),
        newReactor: log.react(edited!, "🎉", "r2", true),
        reactions: log.get(edited!)!.reactions,
        pending: log.claimable(Date.now()).map((m) => m.id),
      };
    });
    expect(after.claimed).toMatchObject({ status: "processing", claimedBy: "bot-a", leaseUntil });
    expect(after.versions).toEqual([
      { version: 1, text: "one", replacedAt: 1 },
      { version: 2, text: "two", replacedAt: 2 },
    ]);
    expect([after.sameReactor, after.newReactor]).toEqual([false, true]);
    expect(after.reactions).toEqual({ "👍": 2, "🎉": 2 });
    expect(after.pending).toEqual([edited]);
    expect((await post(room, "after the upgrade")).seq).toBe(6);
  });
});

/** Runs the room's alarm until the mirror shows what we wait for; a due alarm may already be running by itself. */
async function mirrorUntil(room: string, done: (list: Message[]) => boolean): Promise<Message[]> {
  for (let i = 0; i < 200; i++) {
    await runDurableObjectAlarm(env.ROOM.getByName(room));
    const list = (await env.CHAT_KV.get<Message[]>(`cache:${room}`, "json")) ?? [];
    if (done(list)) return list;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`mirror of ${room} never got there`);
}

describe("KV mirror", () => {
  it("writes cache:<room> once for every change within MIRROR_LAG_MS, however many arrive", async () => {
    const room = uniqueRoom("mirror");
    await setRoomMode(room, "do");
    const stub = env.ROOM.getByName(room);
    const first = await post(room, "first");
    const cached = await mirrorUntil(room, (list) => list.length > 0);
    expect(ids(cached)).toEqual([first.id]);

    const burstStarted = Date.now();
    const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => post(room, `burst ${i}`)));
    const alarm = await runInDurableObject(stub, (_: Room, state) => state.storage.getAlarm());
    // One alarm for the whole burst, no earlier than the lag after its first change.
    expect(alarm).not.toBeNull();
    expect(alarm!).toBeGreaterThanOrEqual(burstStarted + MIRROR_LAG_MS);
    // The burst is not in KV until that alarm runs.
    expect((await env.CHAT_KV.get<Message[]>(`cache:${room}`, "json"))!.length).toBe(1);

    // The KV records are written right after each answer; once they are, only the mirror is owed.
    await outboxDrained(room);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const mirrored = await env.CHAT_KV.get<Message[]>(`cache:${room}`, "json");
    expect(new Set(ids(mirrored ?? []))).toEqual(new Set([first.id, ...ids(burst)]));
    expect(await runDurableObjectAlarm(stub)).toBe(false);
  });

  it("mirrors only the newest 200", async () => {
    const room = uniqueRoom("mirror-cap");
    await setRoomMode(room, "do");
    const posted = await Promise.all(Array.from({ length: 230 }, (_, i) => post(room, `m ${i}`)));
    const newest = [...posted].sort((a, b) => a.seq! - b.seq!).slice(-200);
    const mirrored = await mirrorUntil(room, (list) => list.some((m) => m.id === newest.at(-1)!.id));
    expect(mirrored).toHaveLength(200);
    expect(ids(mirrored)).toEqual(ids(newest));
  });
});
