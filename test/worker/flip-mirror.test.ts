// A flip to kv and the calls that reach the room meanwhile: each waits inside the room until
// its records and mirror are in KV, then is refused and reruns on the kv path from that fresh
// mirror. Refused at once instead, its kv write would read the old `cache:<room>` and the
// mirror would then overwrite it, losing an acknowledged message from the list.
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { RoomState } from "../../src/room/log";
import type { Room } from "../../src/room/room";
import { cacheKey, commentKey } from "../../src/shared/keys";
import type { Message } from "../../src/shared/message";
import { getFlags, post, postJson, setRoomMode, uniqueRoom } from "./helpers";
import { outboxDrained } from "./probes";

const stateOf = (instance: Room) => (instance as unknown as { state: RoomState }).state;

describe("a call reaching a room while it leaves do mode", () => {
  it("waits for the mirror, then lands on the kv path in the list it wrote", async () => {
    const room = uniqueRoom("leaving");
    await setRoomMode(room, "do");
    const before = [await post(room, "one"), await post(room, "two")];
    await outboxDrained(room);

    // The mirror's put is held at a gate until the test opens it.
    let mirrorReached!: () => void;
    const reached = new Promise<void>((resolve) => (mirrorReached = resolve));
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    await runInDurableObject(env.ROOM.getByName(room), (instance: Room) => {
      const state = stateOf(instance);
      const kv = state.kv;
      state.kv = new Proxy(kv, {
        get(target, name, receiver) {
          if (name !== "put") return Reflect.get(target, name, receiver);
          return async (key: string, ...rest: unknown[]) => {
            if (key === cacheKey(room)) {
              mirrorReached();
              await gate;
            }
            return (target.put as (...args: unknown[]) => Promise<void>)(key, ...rest);
          };
        },
      });
    });

    const { version } = await getFlags();
    const leaving = env.ROOM.getByName(room).leaveDoMode({ room, flagVersion: version + 1 });
    await reached;
    // The flag still says do: this post reaches the leaving room, which must hold it.
    const posting = postJson("/api/comments", { room, text: "during the flip", author: "ana" });
    const early = await Promise.race([posting.then(() => "answered"), new Promise((r) => setTimeout(r, 300, "held"))]);
    openGate();
    await leaving;
    const answer = await posting;
    expect(answer.status).toBe(201);
    expect(answer.headers.get("x-cache-mode")).toBe("kv");
    expect(early).toBe("held");

    const cached = (await env.CHAT_KV.get<Message[]>(cacheKey(room), "json")) ?? [];
    const stored = await answer.json<Message>();
    expect(cached.map((m) => m.id)).toEqual([...before.map((m) => m.id), stored.id]);
  });
});

/** Runs the room's next sweep now (its alarm, with that sweep due): how many messages the sweeps re-added. */
const sweepDueNow = (room: string) =>
  runInDurableObject(env.ROOM.getByName(room), async (instance: Room) => {
    const state = stateOf(instance);
    const pending = JSON.parse(state.meta.get("sweepsDue") ?? "[]") as number[];
    state.remember("sweepsDue", JSON.stringify([Date.now() - 1, ...pending.slice(1)]));
    await instance.alarm();
    return (await instance.inspect()).sweepReadded;
  });

/** A do room that logged `texts`, mirrored them and left do mode: its posts, and how many it mirrored on leaving. */
async function loggedThenFlippedToKv(room: string, texts: string[]) {
  await setRoomMode(room, "do");
  const logged: Message[] = [];
  for (const text of texts) logged.push(await post(room, text));
  await outboxDrained(room);
  const { version } = await getFlags();
  const mirrored = await env.ROOM.getByName(room).leaveDoMode({ room, flagVersion: version + 1 });
  return { logged, mirrored };
}

/** A message a kv writer elsewhere put in the room's list. */
const kvMessage = (room: string, i: number, createdAt: number): Message => ({
  id: `${createdAt}-kv${String(i).padStart(4, "0")}`,
  room,
  kind: "human",
  author: "ben",
  text: `from kv ${i}`,
  status: "pending",
  createdAt,
});

describe("after a flip to kv", () => {
  it("re-adds at its sweeps the messages a kv writer with a stale list dropped", async () => {
    const room = uniqueRoom("swept");
    const { logged, mirrored } = await loggedThenFlippedToKv(room, ["one", "two", "three"]);
    expect(mirrored).toBe(3);
    const due = await runInDurableObject(
      env.ROOM.getByName(room),
      (instance: Room) => JSON.parse(stateOf(instance).meta.get("sweepsDue") ?? "[]") as number[],
    );
    expect(due).toHaveLength(4);

    // A kv writer elsewhere read `cache:<room>` from before the last two do messages (KV's
    // propagation delay), appended its own message and wrote the list back.
    const fromKv = kvMessage(room, 0, Date.now());
    await env.CHAT_KV.put(cacheKey(room), JSON.stringify([logged[0], fromKv]));

    const sweepNow = () => sweepDueNow(room);
    expect(await sweepNow()).toBe(2);
    const cached = (await env.CHAT_KV.get<Message[]>(cacheKey(room), "json")) ?? [];
    // Placed by time, as a heal places one.
    expect(cached.map((m) => m.id)).toEqual([...logged.map((m) => m.id), fromKv.id]);
    // Nothing missing any more: the next sweep re-adds nothing.
    expect(await sweepNow()).toBe(2);
  });

  it("puts a dropped message back by time, so later kv writes push out the oldest, not a newer message", async () => {
    const room = uniqueRoom("swept-full");
    const { logged } = await loggedThenFlippedToKv(room, ["one", "two", "three"]);

    // A stale kv writer dropped the last do message; 198 kv messages followed, so the list is
    // full and the dropped one still belongs in it (fewer than CACHE_SIZE entries are newer).
    const start = Math.max(...logged.map((m) => m.createdAt)) + 1;
    const kvMessages = Array.from({ length: 198 }, (_, i) => kvMessage(room, i, start + i));
    await env.CHAT_KV.put(cacheKey(room), JSON.stringify([logged[0], logged[1], ...kvMessages]));
    await sweepDueNow(room);
    const swept = (await env.CHAT_KV.get<Message[]>(cacheKey(room), "json")) ?? [];
    // The oldest left (200 entries are newer than it); the list is in time order.
    expect(swept.map((m) => m.id)).toEqual([logged[1]!.id, logged[2]!.id, ...kvMessages.map((m) => m.id)]);

    // Two kv posts push out the two oldest: the do messages, never a newer kv message.
    const later = [await post(room, "four"), await post(room, "five")];
    const cached = (await env.CHAT_KV.get<Message[]>(cacheKey(room), "json")) ?? [];
    expect(cached.map((m) => m.id)).toEqual([...kvMessages, ...later].map((m) => m.id));
  });
  it("leaves out a message pushed out while one stamped in the same millisecond stayed", async () => {
    const room = uniqueRoom("swept-tie");
    const { logged } = await loggedThenFlippedToKv(room, ["one"]);
    const last = logged[0]!;
    // The first entry shares the do message's stamp; 199 newer follow: 200 at least as new.
    const list = [
      kvMessage(room, 0, last.createdAt),
      ...Array.from({ length: 199 }, (_, i) => kvMessage(room, i + 1, last.createdAt + 1 + i)),
    ];
    await env.CHAT_KV.put(cacheKey(room), JSON.stringify(list));
    expect(await sweepDueNow(room)).toBe(0);
    const cached = (await env.CHAT_KV.get<Message[]>(cacheKey(room), "json")) ?? [];
    expect(cached.map((m) => m.id)).toEqual(list.map((m) => m.id));
  });
});

describe("the mirror a flip to kv leaves", () => {
  it("holds the room's newest messages by time, not a late-logged old one in a newer one's place", async () => {
    const room = uniqueRoom("mirror-order");
    await setRoomMode(room, "do");
    const posted: Message[] = [];
    for (let i = 0; i < 200; i++) posted.push(await post(room, `message ${i}`));
    // An old message healed in now: logged last (the highest seq), written long before the rest.
    const old: Message = {
      id: `${Date.now() - 3_600_000}-oldheal`,
      room,
      kind: "human",
      author: "ana",
      text: "old",
      status: "pending",
      createdAt: Date.now() - 3_600_000,
    };
    await env.CHAT_KV.put(commentKey(room, old.id), JSON.stringify(old));
    expect((await postJson("/api/heal", { messageId: old.id, room })).status).toBe(200);
    await outboxDrained(room);
    const { version } = await getFlags();
    await env.ROOM.getByName(room).leaveDoMode({ room, flagVersion: version + 1 });
    const cached = (await env.CHAT_KV.get<Message[]>(cacheKey(room), "json")) ?? [];
    expect(cached.map((m) => m.id)).toEqual(posted.map((m) => m.id));
  });
});
