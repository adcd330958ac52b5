// Faults injected into a do room, each where a fresh read of the code found a hole: a
// room-creation check that throws, a transaction that rolls back, an alarm whose mirror
// put fails, retention beside a reply being written, and a bug in a room method.
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { AlarmSchedule } from "../../src/room/effects";
import type { Room } from "../../src/room/room";
import type { RoomState } from "../../src/room/log";
import type { RoomLimits } from "../../src/limits/retention";
import { newMessageId, type Message } from "../../src/shared/message";
import { BOT, connect, frameOf, post, postJson, setRoomMode, uniqueRoom } from "./helpers";
import { backdate, outboxDrained } from "./probes";

const DAY_MS = 86_400_000;

type Internals = {
  state: RoomState;
  alarms: AlarmSchedule;
  ops: { env: Env; post: (...args: unknown[]) => unknown; storeHuman: (...args: unknown[]) => unknown };
};
const internals = (instance: Room) => instance as unknown as Internals;

const human = (room: string, text: string): Message => ({
  id: newMessageId(),
  room,
  kind: "human",
  author: "ana",
  text,
  status: "pending",
  createdAt: Date.now(),
});

describe("a do room under injected faults", () => {
  it("forgets a room-creation check that threw: the next send creates the room", async () => {
    const room = uniqueRoom("creation-throws");
    await setRoomMode(room, "do");
    await runInDurableObject(env.ROOM.getByName(room), (instance: Room) => {
      const ops = internals(instance).ops;
      let calls = 0;
      const limiter = {
        limit: async () => (calls++ === 0 ? Promise.reject(new Error("limiter unreachable")) : { success: true }),
      };
      ops.env = { ...ops.env, ROOM_LIMITER: limiter as unknown as RateLimit };
    });
    const body = { room, id: newMessageId(), text: "creates the room" };
    const from = { "cf-connecting-ip": "198.51.100.90" };
    const first = await postJson("/api/comments", body, from);
    expect(first.status).toBe(503);
    const again = await postJson("/api/comments", body, from);
    expect(again.status, await again.clone().text()).toBe(201);
  });

  it("puts memory back when a transaction rolls back: the log's size and position, the alarm it set", async () => {
    const room = uniqueRoom("rollback");
    await setRoomMode(room, "do");
    await post(room, "the log exists");
    await outboxDrained(room);
    await runInDurableObject(env.ROOM.getByName(room), async (instance: Room, ctx) => {
      const { state, alarms } = internals(instance);
      await ctx.storage.deleteAlarm();
      alarms.fired();
      const before = { count: state.log.count(), pos: state.log.lastPos(), marked: state.marked };
      expect(() =>
        state.transaction(() => {
          state.log.insert(human(room, "never committed"));
          void alarms.schedule(Date.now() + 60_000);
          throw new Error("injected failure");
        }),
      ).toThrow("injected failure");
      expect({ count: state.log.count(), pos: state.log.lastPos(), marked: state.marked }).toEqual(before);
      expect(state.log.count()).toBe(ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM messages").one().n);
      // A later deadline is set: the schedule does not believe in the rolled-back one.
      await alarms.schedule(Date.now() + 120_000);
      expect(await ctx.storage.getAlarm()).not.toBeNull();
    });
  });

  it("still deletes what retention owes and sets the next alarm when the mirror put fails", async () => {
    const room = uniqueRoom("alarm-fails");
    await setRoomMode(room, "do");
    const old = await post(room, "two days old");
    await post(room, "fresh");
    await outboxDrained(room);
    await runInDurableObject(env.ROOM.getByName(room), async (instance: Room, ctx) => {
      const { state } = internals(instance);
      state.limits = { maxMessages: 0, retentionMs: DAY_MS } satisfies RoomLimits;
      backdate(ctx.storage.sql, "UPDATE messages SET created_at = created_at - ? WHERE id = ?", 2 * DAY_MS, old.id);
      // Every KV put fails from here on (the mirror is owed after retention deletes).
      state.kv = { ...state.kv, put: () => Promise.reject(new Error("KV unavailable")) } as KVNamespace;
      await ctx.storage.deleteAlarm();
      internals(instance).alarms.fired();
      await instance.alarm();
      expect(state.log.get(old.id)).toBeNull();
      expect(await ctx.storage.getAlarm()).not.toBeNull();
    });
  });

  it("ends the reply being written to a message that retention deletes", async () => {
    const room = uniqueRoom("retention-stream");
    await setRoomMode(room, "do");
    const question = await post(room, "an old question");
    expect((await postJson("/api/bot/claim", { room, messageId: question.id, botId: "bot-a" }, BOT)).status).toBe(200);
    const stream = {
      room,
      author: "bot (test)",
      id: newMessageId(),
      replyTo: question.id,
      botId: "bot-a",
      offset: 0,
      delta: "half an ans",
    };
    expect((await postJson("/api/bot/stream", stream, BOT)).status).toBe(200);
    await post(room, "newer");
    await outboxDrained(room);
    await runInDurableObject(env.ROOM.getByName(room), (instance: Room, ctx) => {
      internals(instance).state.limits = { maxMessages: 0, retentionMs: DAY_MS };
      backdate(
        ctx.storage.sql,
        "UPDATE messages SET created_at = created_at - ? WHERE id = ?",
        2 * DAY_MS,
        question.id,
      );
      ctx.storage.sql.exec("UPDATE messages SET lease_until = ? WHERE id = ?", Date.now() - 1, question.id);
    });
    expect(await runDurableObjectAlarm(env.ROOM.getByName(room))).toBe(true);
    const after = await runInDurableObject(env.ROOM.getByName(room), (_: Room, ctx) => ({
      streams: ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM streams").one().n,
      question: ctx.storage.sql.exec("SELECT 1 FROM messages WHERE id = ?", question.id).toArray().length,
    }));
    expect(after).toEqual({ streams: 0, question: 0 });
    const socket = await connect(room);
    expect((await socket.next(frameOf("hello"))).streams).toBeUndefined();
    socket.ws.close();
  });

  it("answers a bug 500 with an error id, over HTTP and the socket, and a passing failure 503 'send again'", async () => {
    const room = uniqueRoom("bug");
    await setRoomMode(room, "do");
    await post(room, "the room works");
    const inject = (error: Error) =>
      runInDurableObject(env.ROOM.getByName(room), (instance: Room) => {
        const ops = internals(instance).ops;
        ops.post = () => Promise.reject(error);
        ops.storeHuman = () => {
          throw error;
        };
      });

    await inject(new TypeError("injected bug"));
    const bug = await postJson("/api/comments", { room, text: "meets the bug" });
    expect(bug.status).toBe(500);
    const body = await bug.json<{ error: string; errorId: string }>();
    expect(body.errorId).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.error).toContain(body.errorId);
    const socket = await connect(room);
    await socket.next(frameOf("hello"));
    const id = newMessageId();
    socket.send({ type: "send", id, text: "meets the bug too" });
    expect(await socket.answer(id)).toMatchObject({ type: "nack", status: 500 });

    await inject(new Error("storage operation timed out"));
    const passing = await postJson("/api/comments", { room, text: "meets a passing failure" });
    expect(passing.status).toBe(503);
    expect(Number(passing.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const again = newMessageId();
    socket.send({ type: "send", id: again, text: "over the socket" });
    expect(await socket.answer(again)).toMatchObject({ type: "nack", status: 503, retryAfter: 1 });
    socket.ws.close();
  });
});
