// The do-mode write path under injected faults: the room is the one authority, so a
// failed call and its resend end with the message logged exactly once, replies stay
// one per message, ids never cross rooms, and KV records arrive from the outbox.
import { env } from "cloudflare:workers";
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Room } from "../../src/room/room";
import type { ServerFrame } from "../../src/shared/frames";
import { newMessageId, toRecord, type Message } from "../../src/shared/message";
import { OWED_SQL, type RoomState } from "../../src/room/log";
import { commentKey } from "../../src/shared/keys";
import {
  BOT,
  call,
  connect,
  frameOf,
  getFlags,
  list,
  post,
  postJson,
  setFlags,
  setRoomMode,
  uniqueRoom,
} from "./helpers";

/** The room's parts a fault can be injected into (private in the class, reached here on purpose). */
type RoomInternals = {
  state: { kv: KVNamespace; log: { insert: (m: Message) => unknown } };
  ops: { changed: (frames: unknown[]) => void };
};

/** Makes the room's next `part` call throw, once. */
async function failOnce(room: string, part: "insert" | "changed"): Promise<void> {
  await runInDurableObject(env.ROOM.getByName(room), (instance: Room) => {
    const internals = instance as unknown as RoomInternals;
    if (part === "insert") {
      const original = internals.state.log.insert;
      internals.state.log.insert = () => {
        internals.state.log.insert = original;
        throw new Error("injected: insert failed before commit");
      };
    } else {
      internals.ops.changed = () => {
        delete (internals.ops as Partial<RoomInternals["ops"]>).changed; // the prototype's method again
        throw new Error("injected: answer lost after commit");
      };
    }
  });
}

/** The room's KV, failing `puts` times on `comment:` keys (or until `heal()`) before it accepts. */
async function failRecordPuts(room: string, puts: number): Promise<{ failed: () => number; heal: () => void }> {
  let failed = 0;
  await runInDurableObject(env.ROOM.getByName(room), (instance: Room) => {
    const internals = instance as unknown as RoomInternals;
    const real = internals.state.kv;
    internals.state.kv = new Proxy(real, {
      get(target, prop) {
        if (prop !== "put") return Reflect.get(target, prop).bind(target);
        return async (key: string, value: string) => {
          if (key.startsWith("comment:") && failed < puts) {
            failed++;
            throw new Error("injected: KV put failed");
          }
          return target.put(key, value);
        };
      },
    });
  });
  return { failed: () => failed, heal: () => (puts = failed) };
}

const record = (id: string, room: string) => env.CHAT_KV.get<Message>(commentKey(room, id), "json");
const inspect = (room: string) => env.ROOM.getByName(room).inspect();

/**
 * Waits (bounded) for the room's outbox to drain by its own flush and alarms. The alarm set for
 * what is still owed is run now rather than at its time (the mirror's lag away).
 */
async function drained(room: string, withinMs = 15_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  const stub = env.ROOM.getByName(room);
  while ((await inspect(room)).outbox.pending > 0) {
    if (Date.now() > deadline) throw new Error(`outbox of ${room} still owes ${(await inspect(room)).outbox.pending}`);
    await new Promise((r) => setTimeout(r, 25));
    // (With no alarm set this runs nothing, and the wait times out.)
    if ((await inspect(room)).outbox.pending > 0) await runDurableObjectAlarm(stub);
  }
}

/** Counts the log's owed-records queries from now on (the flush's fallback when memory cannot answer). */
async function countOwedQueries(room: string): Promise<() => number> {
  let queries = 0;
  await runInDurableObject(env.ROOM.getByName(room), (instance: Room) => {
    const log = (instance as unknown as { state: { log: { sql: SqlStorage } } }).state.log;
    const sql = log.sql;
    log.sql = new Proxy(sql, {
      get(target, prop) {
        if (prop !== "exec") return Reflect.get(target, prop);
        return (query: string, ...bindings: unknown[]) => {
          if (query === OWED_SQL) queries++;
          return target.exec(query, ...bindings);
        };
      },
    });
  });
  return () => queries;
}

/** What the owed-records query answers now, and what the log answers (from memory where it can). */
function owedBothWays(state: RoomState): { queried: unknown; answered: unknown } {
  const since = state.outbox.kvPos();
  const answered = state.log.owed(since);
  const log = state.log as unknown as { tail: unknown };
  const tail = log.tail;
  log.tail = null;
  const queried = state.log.owed(since);
  log.tail = tail;
  return { queried, answered };
}

const reply = (room: string, replyTo: string, botId: string, id: string) =>
  postJson("/api/comments", { kind: "ai", room, replyTo, botId, id, text: `answer from ${botId}`, author: "bot" }, BOT);

describe("do-mode posts under faults", () => {
  it("a room call that fails before committing, then a resend with the same id: logged once, no heal", async () => {
    const room = uniqueRoom("fail-before");
    await setRoomMode(room, "do");
    await post(room, "wake");
    const id = newMessageId();
    await failOnce(room, "insert");
    const failed = await postJson("/api/comments", { room, id, text: "first try" });
    expect(failed.status).toBe(503);
    expect(await record(id, room)).toBeNull();
    const resent = await postJson("/api/comments", { room, id, text: "first try" });
    expect(resent.status).toBe(201);
    expect((await list(room)).filter((m) => m.id === id)).toHaveLength(1);
    await drained(room);
    const healed = await postJson(
      "/api/admin/add-to-cache",
      { messageId: id, room },
      { "cf-connecting-ip": "192.0.2.44" },
    );
    expect(healed.status).toBe(200);
    expect((await healed.json<{ readded: boolean }>()).readded).toBe(false);
  });

  it("a room call whose answer is lost after committing, then a resend: 200 with the stored message, logged once", async () => {
    const room = uniqueRoom("fail-after");
    await setRoomMode(room, "do");
    await post(room, "wake");
    const id = newMessageId();
    await failOnce(room, "changed");
    expect((await postJson("/api/comments", { room, id, text: "lost answer" })).status).toBe(503);
    const resent = await postJson("/api/comments", { room, id, text: "lost answer" });
    expect(resent.status).toBe(200);
    expect((await resent.json<Message>()).text).toBe("lost answer");
    expect((await list(room)).filter((m) => m.id === id)).toHaveLength(1);
    await drained(room);
    expect((await record(id, room))?.text).toBe("lost answer");
  });

  it("a just-posted message is readable from the room at once, even while its KV record cannot be written", async () => {
    const room = uniqueRoom("read-own");
    await setRoomMode(room, "do");
    await post(room, "wake");
    await drained(room);
    await failRecordPuts(room, 1_000);
    const message = await post(room, "read me now");
    const fromRoom = await call(`/api/comments/${message.id}?room=${room}`);
    expect(fromRoom.status).toBe(200);
    expect(fromRoom.headers.get("X-Cache-Mode")).toBe("do");
    expect((await fromRoom.json<Message>()).text).toBe("read me now");
    expect((await call(`/api/comments/${message.id}?room=${room}&record=1`)).status).toBe(404); // no KV record yet
    expect((await call(`/api/comments/${message.id}?room=${uniqueRoom("other")}`)).status).toBe(404);
  });
});

describe("AI replies are one atomic step", () => {
  it.each(["insert", "changed"] as const)(
    "a reply retried after a failure (%s): one reply, human complete, second bot refused",
    async (part) => {
      const room = uniqueRoom(`reply-${part}`);
      await setRoomMode(room, "do");
      const human = await post(room, "question");
      expect((await postJson("/api/bot/claim", { messageId: human.id, room, botId: "bot-a" }, BOT)).status).toBe(200);
      const id = newMessageId();
      await failOnce(room, part);
      expect((await reply(room, human.id, "bot-a", id)).status).toBe(503);
      const retried = await reply(room, human.id, "bot-a", id);
      expect(retried.status).toBe(part === "insert" ? 201 : 200);
      const other = await reply(room, human.id, "bot-b", newMessageId());
      expect(other.status).toBe(409);
      const messages = await list(room);
      expect(messages.filter((m) => m.replyTo === human.id).map((m) => m.id)).toEqual([id]);
      expect(messages.find((m) => m.id === human.id)?.status).toBe("complete");
      await drained(room);
      expect((await record(human.id, room))?.status).toBe("complete");
    },
  );

  it("a heal that re-adds a missing AI reply completes its human message", async () => {
    const room = uniqueRoom("heal-reply");
    await setRoomMode(room, "do");
    const human = await post(room, "question");
    const ai: Message = {
      id: newMessageId(),
      room,
      kind: "ai",
      author: "bot",
      text: "an answer the log lost",
      replyTo: human.id,
      status: "complete",
      createdAt: Date.now(),
    };
    await env.CHAT_KV.put(commentKey(room, ai.id), JSON.stringify(ai)); // the record exists, the log entry does not
    const healed = await postJson(
      "/api/admin/add-to-cache",
      { messageId: ai.id, room },
      { "cf-connecting-ip": "192.0.2.45" },
    );
    expect((await healed.json<{ readded: boolean }>()).readded).toBe(true);
    const messages = await list(room);
    expect(messages.find((m) => m.id === human.id)?.status).toBe("complete");
    expect((await reply(room, human.id, "bot-b", newMessageId())).status).toBe(409);
  });
});

describe("client-chosen ids never cross rooms", () => {
  it("the same id posted into two do rooms at once: each room keeps its own message and its own record", async () => {
    const [a, b] = [uniqueRoom("id-a"), uniqueRoom("id-b")];
    await setRoomMode(a, "do");
    await setRoomMode(b, "do");
    const id = newMessageId();
    const [ra, rb] = await Promise.all([post(a, "text of room a", { id }), post(b, "text of room b", { id })]);
    expect(ra.room).toBe(a);
    expect(rb.room).toBe(b);
    await Promise.all([drained(a), drained(b)]);
    expect((await list(a)).find((m) => m.id === id)?.text).toBe("text of room a");
    expect((await list(b)).find((m) => m.id === id)?.text).toBe("text of room b");
    // Records are kept per room: each room's record is its own, and no outbox put fails.
    expect(await record(id, a)).toMatchObject({ room: a, text: "text of room a" });
    expect(await record(id, b)).toMatchObject({ room: b, text: "text of room b" });
    expect((await inspect(a)).outbox.failures + (await inspect(b)).outbox.failures).toBe(0);
  });

  it("an id another do room already wrote: each room keeps its own record, no conflict", async () => {
    const [a, b] = [uniqueRoom("id-first"), uniqueRoom("id-second")];
    await setRoomMode(a, "do");
    await setRoomMode(b, "do");
    const id = newMessageId();
    await post(a, "the first", { id });
    await drained(a);
    await post(b, "the second", { id });
    await drained(b);
    expect(await record(id, a)).toMatchObject({ room: a, text: "the first" });
    expect(await record(id, b)).toMatchObject({ room: b, text: "the second" });
    expect((await inspect(b)).outbox.failures).toBe(0);
    expect((await list(b)).find((m) => m.id === id)?.text).toBe("the second");
  });

  it("room A's id posted into a kv room takes nothing of room A: its record, answers and outbox stay its own", async () => {
    const [owner, other] = [uniqueRoom("owner"), uniqueRoom("other")];
    await setRoomMode(owner, "do");
    await setRoomMode(other, "kv");
    const first = await post(owner, "mine");
    await drained(owner);
    const ownerBefore = {
      record: await record(first.id, owner),
      get: await (await call(`/api/comments/${first.id}?room=${owner}`)).json(),
      list: await list(owner),
    };
    // Someone who saw the id pushed in room A posts it into a kv room: it is a message of that room only.
    const res = await postJson("/api/comments", { room: other, id: first.id, text: "theirs" });
    expect(res.status).toBe(201);
    expect(await record(first.id, other)).toMatchObject({ room: other, text: "theirs" });
    expect({
      record: await record(first.id, owner),
      get: await (await call(`/api/comments/${first.id}?room=${owner}`)).json(),
      list: await list(owner),
    }).toEqual(ownerBefore);
    // Room A's later writes of its record (its reply completes it) all land.
    await postJson("/api/bot/claim", { messageId: first.id, room: owner, botId: "bot-a" }, BOT);
    const reply = await postJson(
      "/api/comments",
      { room: owner, kind: "ai", replyTo: first.id, text: "an answer", botId: "bot-a" },
      BOT,
    );
    expect(reply.status).toBe(201);
    await drained(owner);
    expect(await record(first.id, owner)).toMatchObject({ room: owner, text: "mine", status: "complete" });
    expect((await inspect(owner)).outbox.failures).toBe(0);
    // A heal names the room: each room's heal finds its own message.
    const healed = await postJson(
      "/api/heal",
      { messageId: first.id, room: owner },
      { "cf-connecting-ip": "192.0.2.46" },
    );
    expect(await healed.json()).toMatchObject({ message: { room: owner, text: "mine" } });
  });
});

describe("KV records from the outbox", () => {
  it("the flush after a post takes the records it owes from memory; after any other change it queries", async () => {
    const room = uniqueRoom("outbox-tail");
    await setRoomMode(room, "do");
    const editKey = "the-authors-edit-key-0000000042";
    await post(room, "wake");
    await drained(room);
    const owedQueries = await countOwedQueries(room);
    const posted = [];
    for (let i = 0; i < 3; i++) posted.push(await post(room, `from memory ${i}`, { editKey }));
    await drained(room);
    expect(owedQueries()).toBe(0);
    const edited = await postJson(`/api/comments/${posted[0]!.id}/edit`, { room, text: "edited", version: 2, editKey });
    expect(edited.status).toBe(200);
    await drained(room);
    expect(owedQueries()).toBe(1);
    // Written once everything was: memory again.
    posted.push(await post(room, "from memory again"));
    await drained(room);
    expect(owedQueries()).toBe(1);
    // Each record is what the room's row says now.
    for (const { id } of posted) {
      const logged = await (await call(`/api/comments/${id}?room=${room}`)).json<Message>();
      expect(await record(id, room)).toEqual(toRecord(logged));
    }
  });

  it("memory answers the owed records exactly as the query does, whatever changed since", async () => {
    const room = uniqueRoom("outbox-tail-same");
    await setRoomMode(room, "do");
    await post(room, "wake");
    await drained(room);
    await runInDurableObject(env.ROOM.getByName(room), (instance: Room) => {
      const state = (instance as unknown as { state: RoomState }).state;
      const message = (text: string, extra: Partial<Message> = {}): Message => ({
        id: newMessageId(),
        room,
        kind: "human",
        author: "a",
        text,
        status: "pending",
        createdAt: Date.now(),
        ...extra,
      });
      const log = state.log;
      const insert = (m: Message, owed = true) => log.insert(m, null, owed).message;
      const steps: [string, () => unknown][] = [
        ["an owed insert", () => insert(message("one"))],
        [
          "two more, one failed",
          () => [insert(message("two")), insert(message("x", { status: "failed", error: "no" }))],
        ],
        ["an insert owing nothing", () => insert(message("merged"), false)],
        ["a status change", () => log.setStatus(insert(message("q")).id, "failed", null, true)],
        ["a removal", () => log.remove([insert(message("gone")).id])],
        ["a tombstone of a new id", () => log.tombstone(message("t"), Date.now(), true)],
        [
          "a rolled-back insert",
          () => {
            insert(message("rolled back"));
            throw new Error("injected");
          },
        ],
      ];
      // Each step starts where a flush that wrote everything leaves the log: memory holds the tail.
      // (Only as the flush would record it: this throwaway room's records are not written.)
      const flushed = () => {
        state.outbox.advance(state.log.lastPos());
        state.log.flushedTo(state.outbox.kvPos());
      };
      for (const [step, change] of steps) {
        flushed();
        try {
          state.transaction(change);
        } catch (err) {
          expect(String(err), step).toContain("injected");
        }
        // Text, not only value: after a restart a record is compared with KV's copy as text.
        const { queried, answered } = owedBothWays(state);
        expect(JSON.stringify(answered), step).toBe(JSON.stringify(queried));
      }
      flushed();
      state.transaction(() => insert(message("after the flush")));
      const { queried, answered } = owedBothWays(state);
      expect((answered as { owed: unknown[] }).owed).toHaveLength(1);
      expect(JSON.stringify(answered)).toBe(JSON.stringify(queried));
    });
  });

  it("records appear once KV accepts after failing puts, retried by alarm", async () => {
    const room = uniqueRoom("outbox-retry");
    await setRoomMode(room, "do");
    await post(room, "wake");
    await drained(room);
    const faults = await failRecordPuts(room, 2);
    const message = await post(room, "owed to KV");
    expect(message.id).toBeTruthy();
    await drained(room);
    expect(faults.failed()).toBe(2);
    expect((await record(message.id, room))?.text).toBe("owed to KV");
    const stats = (await inspect(room)).outbox;
    expect(stats.failures).toBeGreaterThanOrEqual(2);
    expect(stats.pending).toBe(0);
  });

  it("leaving do mode writes every owed record before the flip answers", async () => {
    const room = uniqueRoom("outbox-leave");
    await setRoomMode(room, "do");
    await post(room, "wake");
    await drained(room);
    await failRecordPuts(room, 1); // the post-answer flush fails; the retry would wait a second
    const message = await post(room, "flush me on the way out");
    await setRoomMode(room, "kv");
    expect((await record(message.id, room))?.text).toBe("flush me on the way out");
    expect((await list(room)).map((m) => m.id)).toContain(message.id);
  });

  it("a flip whose room cannot write its records changes nothing; the same PUT finishes it once KV accepts", async () => {
    const room = uniqueRoom("outbox-stuck");
    await setRoomMode(room, "do");
    await post(room, "wake");
    await drained(room);
    const faults = await failRecordPuts(room, Number.POSITIVE_INFINITY);
    const message = await post(room, "owed while flipping");
    const { defaultMode, doPercent, rooms } = await getFlags();
    const flip = { defaultMode, doPercent, rooms: { ...rooms, [room]: "kv" as const } };
    const refused = await setFlags(flip);
    expect(refused.status).toBe(500);
    expect((await getFlags()).rooms[room]).toBe("do");
    // The room is still the do room: it takes writes and holds the message.
    expect((await call(`/api/comments?room=${room}`)).headers.get("X-Cache-Mode")).toBe("do");
    expect((await post(room, "still do")).seq).toBeGreaterThan(message.seq!);
    expect((await setFlags(flip)).status).toBe(500);
    faults.heal();
    expect((await setFlags(flip)).status).toBe(200);
    expect((await record(message.id, room))?.text).toBe("owed while flipping");
    const kvList = await list(room);
    expect(kvList.map((m) => m.text)).toEqual(expect.arrayContaining(["owed while flipping", "still do"]));
  });
});

describe("reconcile (kv → do) cannot brick a room", () => {
  it("skips and counts cache entries that fail validation, keeps the rest, and pushes what it merged", async () => {
    const room = uniqueRoom("reconcile-bad");
    const good: Message = {
      id: newMessageId(),
      room,
      kind: "human",
      author: "ada",
      text: "from kv",
      status: "pending",
      createdAt: Date.now(),
    };
    await setRoomMode(room, "kv");
    await env.CHAT_KV.put(`cache:${room}`, JSON.stringify([good, { id: "garbage", text: 42 }, null]));
    const watcher = await connect(room); // open while the room is still kv
    await setRoomMode(room, "do");
    const messages = await list(room);
    expect(messages.map((m) => m.id)).toEqual([good.id]);
    expect(await watcher.next(frameOf("mode"))).toEqual({ type: "mode", mode: "do" });
    expect(
      (await watcher.next((f): f is Extract<ServerFrame, { type: "message" }> => f.type === "message")).message.id,
    ).toBe(good.id);
    watcher.ws.close();
    expect((await inspect(room)).skippedOnReconcile).toBe(2);
    expect((await post(room, "after the merge")).room).toBe(room);
  });

  it("a failing KV read during reconcile fails that call only; the next call reconciles", async () => {
    const room = uniqueRoom("reconcile-fail");
    const good: Message = {
      id: newMessageId(),
      room,
      kind: "human",
      author: "ada",
      text: "from kv",
      status: "pending",
      createdAt: Date.now(),
    };
    await env.CHAT_KV.put(`cache:${room}`, JSON.stringify([good]));
    await runInDurableObject(env.ROOM.getByName(room), (instance: Room) => {
      const internals = instance as unknown as RoomInternals;
      const real = internals.state.kv;
      let failures = 1;
      internals.state.kv = new Proxy(real, {
        get(target, prop) {
          if (prop !== "get") return Reflect.get(target, prop).bind(target);
          return (...args: Parameters<KVNamespace["get"]>) => {
            if (failures-- > 0) throw new Error("injected: KV read failed");
            return (target.get as (...a: unknown[]) => unknown)(...args);
          };
        },
      });
    });
    await setRoomMode(room, "do");
    const first = await call(`/api/comments?room=${room}`);
    expect(first.status).toBe(503);
    expect(first.headers.get("retry-after")).toBe("1");
    expect((await list(room)).map((m) => m.id)).toEqual([good.id]);
  });
});

describe("a flip between a post's flag read and its room call", () => {
  it("the room refuses the stale do call and the Worker reruns it on the kv path: nothing lost, nothing in a log nobody reads", async () => {
    const room = uniqueRoom("stale-flag");
    await setRoomMode(room, "do");
    const before = await post(room, "in do mode");
    // Another isolate flips the room to kv; this isolate still holds the do flag (kept ≤ 1 s).
    const control = env.CONTROL.getByName("global");
    const { defaultMode, doPercent, rooms } = await getFlags();
    const next = { defaultMode, doPercent, rooms: { ...rooms, [room]: "kv" as const } };
    const flagVersion = await control.reserveVersion(next);
    await env.ROOM.getByName(room).leaveDoMode({ room, flagVersion });
    await control.setFlags(next, "another isolate");
    const res = await postJson("/api/comments", { room, text: "sent on the stale flag" });
    expect(res.status).toBe(201);
    expect(res.headers.get("X-Cache-Mode")).toBe("kv");
    const cached = (await env.CHAT_KV.get<Message[]>(`cache:${room}`, "json"))!.map((m) => m.text);
    expect(cached).toEqual(["in do mode", "sent on the stale flag"]);
    expect((await inspect(room)).count).toBe(1); // the do log did not take it
    expect(before.room).toBe(room);
  });
});

describe("restarts and flips around acknowledged writes", () => {
  it("a room evicted between acknowledgements and their mirror still mirrors and records them", async () => {
    const room = uniqueRoom("evict-mirror");
    const stub = env.ROOM.getByName(room);
    await setRoomMode(room, "do");
    const first = await post(room, "mirrored at once");
    await runDurableObjectAlarm(stub); // the first mirror: the next may come only a second later
    const acked = [
      first,
      ...(await Promise.all(Array.from({ length: 5 }, (_, i) => post(room, `before eviction ${i}`)))),
    ];
    const alarm = await runInDurableObject(stub, (_: Room, state) => state.storage.getAlarm());
    expect(alarm).toBeGreaterThan(Date.now()); // the mirror of these five is still to come
    await evictDurableObject(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const mirrored = (await env.CHAT_KV.get<Message[]>(`cache:${room}`, "json")) ?? [];
    expect(mirrored.map((m) => m.id).sort()).toEqual(acked.map((m) => m.id).sort());
    await drained(room);
    for (const m of acked) expect((await record(m.id, room))?.text).toBe(m.text);
  });

  it("two rooms flip back and forth while a bot claims and answers in both: every message once, every question answered once", async () => {
    const rooms = [uniqueRoom("flip-bot-a"), uniqueRoom("flip-bot-b")];
    for (const room of rooms) await setRoomMode(room, "do");
    const questions = (
      await Promise.all(
        rooms.map((room) => Promise.all(Array.from({ length: 8 }, (_, i) => post(room, `question ${i}`)))),
      )
    ).flat();
    // The bot's loop: claim, answer; a flip between the two can cost the claim (a merged
    // cache entry carries no lease), so it claims again, as the real bot would next poll.
    const answer = async (q: Message) => {
      for (let attempt = 0; attempt < 20; attempt++) {
        await postJson("/api/bot/claim", { messageId: q.id, room: q.room, botId: "bot" }, BOT);
        const replied = await reply(q.room, q.id, "bot", newMessageId());
        if (replied.status === 201) return;
        if (
          replied.status === 409 &&
          (await replied.json<{ error: string }>()).error.startsWith("message was already answered")
        )
          return;
      }
      throw new Error(`${q.id} was never answered`);
    };
    const flips = (async () => {
      for (const mode of ["kv", "do", "kv", "do"] as const) for (const room of rooms) await setRoomMode(room, mode);
    })();
    await Promise.all([flips, ...questions.map(answer)]);
    for (const room of rooms) {
      const messages = await list(room);
      const ids = messages.map((m) => m.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const q of questions.filter((m) => m.room === room)) {
        expect(ids).toContain(q.id);
        expect(messages.filter((m) => m.replyTo === q.id)).toHaveLength(1);
      }
    }
  });
});

describe("a lease across a flip", () => {
  it("a claim taken on the kv path survives the flip to do: its bot answers, another bot is refused", async () => {
    const room = uniqueRoom("lease-flip");
    await setRoomMode(room, "kv");
    const human = await post(room, "claimed before the flip");
    expect((await postJson("/api/bot/claim", { messageId: human.id, room, botId: "bot-a" }, BOT)).status).toBe(200);
    await setRoomMode(room, "do");
    const other = await reply(room, human.id, "bot-b", newMessageId());
    expect(other.status).toBe(409);
    expect((await other.json<{ error: string }>()).error).toBe("message is claimed by bot-a");
    expect((await reply(room, human.id, "bot-a", newMessageId())).status).toBe(201);
    expect((await list(room)).find((m) => m.id === human.id)?.status).toBe("complete");
  });
});

describe("an answer given on the kv path is kept across a flip back to do", () => {
  it("a reply merged from the cache completes its message even when the message itself fell out of the 200 window", async () => {
    const room = uniqueRoom("answered-in-kv");
    await setRoomMode(room, "do");
    const human = await post(room, "asked in do");
    await setRoomMode(room, "kv");
    expect((await postJson("/api/bot/claim", { messageId: human.id, room, botId: "bot-a" }, BOT)).status).toBe(200);
    const first = await reply(room, human.id, "bot-a", newMessageId());
    expect(first.status).toBe(201);
    for (let i = 0; i < 199; i++) await post(room, `later ${i}`); // one at a time: kv loses concurrent writes
    await setRoomMode(room, "do");
    expect((await postJson("/api/bot/claim", { messageId: human.id, room, botId: "bot-b" }, BOT)).status).toBe(409);
    const second = await reply(room, human.id, "bot-b", newMessageId());
    expect(second.status).toBe(409);
    const log = (
      await call(`/api/comments?room=${room}&since=0&limit=200`).then((r) => r.json<{ comments: Message[] }>())
    ).comments;
    expect(log.filter((m) => m.replyTo === human.id)).toHaveLength(1);
  });

  it("a message answered on the kv path whose reply also fell out of the window is complete from its KV record", async () => {
    const room = uniqueRoom("answered-out-of-window");
    await setRoomMode(room, "do");
    const human = await post(room, "asked in do");
    await setRoomMode(room, "kv");
    expect((await postJson("/api/bot/claim", { messageId: human.id, room, botId: "bot-a" }, BOT)).status).toBe(200);
    expect((await reply(room, human.id, "bot-a", newMessageId())).status).toBe(201);
    for (let i = 0; i < 200; i++) await post(room, `later ${i}`);
    await setRoomMode(room, "do");
    expect((await postJson("/api/bot/claim", { messageId: human.id, room, botId: "bot-b" }, BOT)).status).toBe(409);
    expect((await reply(room, human.id, "bot-b", newMessageId())).status).toBe(409);
  });
});
