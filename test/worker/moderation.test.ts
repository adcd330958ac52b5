// Operator deletion (DELETE /api/admin/messages/:id?room=): a tombstone in the room's log
// in both modes, gone from lists, the mirror and cache:<room>, its KV record marked
// deleted, pushed to sockets, audited, and refused (410) wherever it could come back.
import { env } from "cloudflare:workers";
import { commentKey } from "../../src/shared/keys";
import { runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { DeleteResponse, FlagsResponse } from "../../src/shared/api";
import type { ServerFrame } from "../../src/shared/frames";
import type { PathMode, Message } from "../../src/shared/message";
import { buildTurns } from "../../bot/prompt";
import { MemoryPendingIds } from "../../src/client/pending-ids";
import { Verifier } from "../../src/client/verifier";
import { toTombstone } from "../../src/shared/message";
import { MessageStore } from "../../src/web/chat/messages";
import {
  ADMIN,
  BOT,
  call,
  connect,
  frameOf,
  heal,
  ids,
  list,
  post,
  postJson,
  setRoomMode,
  uniqueRoom,
} from "./helpers";

const ADMIN_AS = { ...ADMIN, "x-operator": "mod-alice" };

function remove(room: string | null, id: string, headers: Record<string, string> = ADMIN_AS): Promise<Response> {
  return call(`/api/admin/messages/${id}${room === null ? "" : `?room=${room}`}`, { method: "DELETE", headers });
}

async function removed(room: string, id: string): Promise<DeleteResponse> {
  const res = await remove(room, id);
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json();
}

const record = (id: string, room: string) => env.CHAT_KV.get<Message>(commentKey(room, id), "json");
const cached = async (room: string) => ids((await env.CHAT_KV.get<Message[]>(`cache:${room}`, "json")) ?? []);
const deletions = async () =>
  (await (await call("/api/admin/flags", { headers: ADMIN })).json<FlagsResponse>()).deletions;

/** do mode: the outbox and the mirror are written by the room after its answer; the alarm does both now. */
async function settle(room: string, mode: PathMode): Promise<void> {
  if (mode === "do") await runDurableObjectAlarm(env.ROOM.getByName(room));
}

describe.each(["do", "kv"] as const)("DELETE /api/admin/messages/:id in %s mode", (mode) => {
  it("leaves a tombstone: gone from the list and cache:<room>, KV record marked deleted, audited once, idempotent", async () => {
    const room = uniqueRoom(`del-${mode}`);
    await setRoomMode(room, mode);
    const keep = await post(room, "stays");
    const gone = await post(room, "spam", { author: "spammer" });
    await settle(room, mode);
    expect(await cached(room)).toEqual([keep.id, gone.id]);

    const res = await remove(room, gone.id);
    expect(res.status).toBe(200);
    expect(res.headers.get("X-Cache-Mode")).toBe(mode);
    const body = await res.json<DeleteResponse>();
    expect(body).toMatchObject({
      ok: true,
      deleted: true,
      mode,
      message: { id: gone.id, room, kind: "human", text: "", author: "", deleted: true },
    });
    expect(body.message.deletedAt).toBeGreaterThanOrEqual(gone.createdAt);

    // do: lists leave it out (pushes and catch-ups carry the tombstone); kv: cache:<room> and
    // the list hold the tombstone in its place, so a page that only polls drops the row.
    const shown = await list(room);
    await settle(room, mode);
    if (mode === "do") {
      expect(ids(shown)).toEqual([keep.id]);
      expect(await cached(room)).toEqual([keep.id]);
    } else {
      expect(shown).toEqual([keep, body.message]);
      expect(await env.CHAT_KV.get(`cache:${room}`, "json")).toEqual([keep, body.message]);
    }
    expect(await record(gone.id, room)).toMatchObject({ id: gone.id, room, text: "", author: "", deleted: true });
    expect(await record(keep.id, room)).toMatchObject({ text: "stays" });

    // Again: the same tombstone, 200, nothing more changes and the audit keeps one entry.
    const again = await removed(room, gone.id);
    expect(again).toMatchObject({
      deleted: false,
      message: { id: gone.id, deleted: true, deletedAt: body.message.deletedAt },
    });
    const audited = (await deletions()).filter((d) => d.id === gone.id);
    expect(audited).toEqual([{ room, id: gone.id, kind: "human", who: "mod-alice", at: body.message.deletedAt }]);
  });

  it("never brings it back: heal, a post reusing the id, a claim and a reply answer 410 and change nothing", async () => {
    const room = uniqueRoom(`del-back-${mode}`);
    await setRoomMode(room, mode);
    const gone = await post(room, "to delete");
    await removed(room, gone.id);
    await settle(room, mode);

    const healed = await heal(gone.id, room);
    expect(healed.status).toBe(410);
    expect(await healed.json()).toEqual({ error: "message was deleted by an operator" });
    const repost = await postJson("/api/comments", { room, id: gone.id, text: "back again" });
    expect(repost.status).toBe(410);
    expect(await repost.json()).toEqual({ error: "id: message was deleted by an operator" });
    const claim = await postJson("/api/bot/claim", { room, messageId: gone.id, botId: "bot-1" }, BOT);
    expect(claim.status).toBe(410);
    const reply = await postJson(
      "/api/comments",
      { room, kind: "ai", replyTo: gone.id, text: "answer", botId: "bot-1" },
      BOT,
    );
    expect(reply.status).toBe(410);
    expect(await reply.json()).toEqual({ error: "replyTo: message was deleted by an operator" });
    expect((await call(`/api/comments/${gone.id}?room=${room}`)).status).toBe(410);
    expect((await call(`/api/comments/${gone.id}?room=${room}&record=1`)).status).toBe(410);

    // kv: the list holds only the tombstone, still "pending" underneath; the bot's scan skips it.
    const left = await list(room);
    expect(ids(left)).toEqual(mode === "kv" ? [gone.id] : []);
    expect(left.every((m) => m.deleted && m.text === "")).toBe(true);
    const pending = await call(`/api/bot/pending?room=${room}`, { headers: BOT });
    expect((await pending.json<{ pending: Message[] }>()).pending).toEqual([]);
    expect(await record(gone.id, room)).toMatchObject({ deleted: true, text: "" });
  });

  it("deletes an AI reply; its human message stays answered", async () => {
    const room = uniqueRoom(`del-ai-${mode}`);
    await setRoomMode(room, mode);
    const human = await post(room, "question");
    expect((await postJson("/api/bot/claim", { room, messageId: human.id, botId: "bot-1" }, BOT)).status).toBe(200);
    const answer = await postJson(
      "/api/comments",
      { room, kind: "ai", replyTo: human.id, text: "bad answer", botId: "bot-1" },
      BOT,
    );
    const ai = await answer.json<Message>();
    expect(answer.status).toBe(201);
    expect((await removed(room, ai.id)).message).toMatchObject({ kind: "ai", replyTo: human.id, deleted: true });
    const shown = (await list(room)).filter((m) => !m.deleted);
    expect(ids(shown)).toEqual([human.id]);
    expect(shown[0]!.status).toBe("complete");
    expect((await deletions()).find((d) => d.id === ai.id)).toMatchObject({ kind: "ai", room });
  });
});

describe("deletion in do mode", () => {
  it("pushes the tombstone as an update to open sockets; a catch-up returns it; a socket send of the id gets nack 410", async () => {
    const room = uniqueRoom("del-push");
    await setRoomMode(room, "do");
    const gone = await post(room, "pushed away");
    const client = await connect(room);
    await client.next(frameOf("hello"));
    const { message } = await removed(room, gone.id);
    const update = await client.next(
      (f): f is Extract<ServerFrame, { type: "update" }> => f.type === "update" && f.message.id === gone.id,
    );
    expect(update.message).toEqual(message);
    expect(update.message.pos).toBeGreaterThan(gone.pos!);

    const since = await call(`/api/comments?room=${room}&since=${gone.pos}`);
    expect((await since.json<{ comments: Message[] }>()).comments).toEqual([message]);

    client.send({ type: "send", id: gone.id, text: "again over the socket" });
    expect(await client.answer(gone.id)).toEqual({
      type: "nack",
      id: gone.id,
      status: 410,
      error: "id: message was deleted by an operator",
    });
    client.ws.close();
  });

  it("deletes a message the log never had but whose KV record names the room, so no heal brings it in", async () => {
    const room = uniqueRoom("del-record");
    await setRoomMode(room, "do");
    await post(room, "the room exists");
    // A message the kv path acknowledged and lost (its record is all that is left).
    const lost: Message = {
      id: `${Date.now()}-lostrecord`,
      room,
      kind: "human",
      author: "x",
      text: "lost on kv",
      status: "pending",
      createdAt: Date.now(),
    };
    await env.CHAT_KV.put(commentKey(room, lost.id), JSON.stringify(lost));
    expect((await removed(room, lost.id)).message).toMatchObject({ id: lost.id, deleted: true });
    expect((await heal(lost.id, room)).status).toBe(410);
    expect(ids(await list(room))).not.toContain(lost.id);
  });
});

describe("deletion in kv mode (no pushes: pages, lab tabs and the bot only poll)", () => {
  it("a polling page drops the row on its next poll; a pending id ends its checks as deleted (410), not verified, with no heal", async () => {
    const room = uniqueRoom("del-kv-page");
    await setRoomMode(room, "kv");
    const other = await post(room, "someone else's spam");
    const mine = await post(room, "my own message");
    const store = new MessageStore();
    store.merge(await list(room));
    expect(ids(store.sorted())).toEqual([other.id, mine.id]);
    const ended: [string, number][] = [];
    const heals: string[] = [];
    const verified: string[] = [];
    const verifier = new Verifier(new MemoryPendingIds(), {
      heal: async (entry) => {
        heals.push(entry.id);
        throw new Error("no heal expected");
      },
      events: {
        onGaveUp: (entry, _reason, status) => ended.push([entry.id, status]),
        onVerified: (entry) => verified.push(entry.id),
      },
    });
    verifier.add({ id: mine.id, room, createdAt: mine.createdAt, ackedAt: Date.now() - 1 });

    await removed(room, other.id);
    await removed(room, mine.id);
    const requestedAt = Date.now();
    const polled = await list(room, 50);
    expect(store.merge(polled)).toBe(true);
    expect(store.sorted()).toEqual([]);
    expect(await verifier.check(room, polled, requestedAt, 50)).toBe(false);
    expect(ended).toEqual([[mine.id, 410]]);
    expect([verified, heals, verifier.size]).toEqual([[], [], 0]);
    // Acknowledged again later (a resend's answer): the tombstone is not remembered as "seen".
    expect(verifier.add({ id: mine.id, room, createdAt: mine.createdAt, ackedAt: Date.now() })).toBe(true);
  });

  it("heal answers 410 and keeps the tombstone even after a racy writer put the live KV record back", async () => {
    const room = uniqueRoom("del-kv-heal");
    await setRoomMode(room, "kv");
    const gone = await post(room, "deleted then revived by a stale record write");
    const { message: tombstone } = await removed(room, gone.id);
    // A reply that read the room before the delete rewrites the message's record (the legacy race).
    await env.CHAT_KV.put(commentKey(room, gone.id), JSON.stringify({ ...gone, status: "complete" }));
    const healed = await heal(gone.id, room);
    expect(healed.status).toBe(410);
    expect(await healed.json()).toEqual({ error: "message was deleted by an operator" });
    expect(await env.CHAT_KV.get(`cache:${room}`, "json")).toEqual([tombstone]);
    expect(await list(room)).toEqual([tombstone]);
  });

  it("the bot's prompt leaves a tombstone out of the context", async () => {
    const room = uniqueRoom("del-kv-bot");
    await setRoomMode(room, "kv");
    const gone = await post(room, "words nobody should see again", { author: "spammer" });
    const human = await post(room, "a fair question", { author: "ada" });
    await removed(room, gone.id);
    const pending = await (
      await call(`/api/bot/pending?room=${room}`, { headers: BOT })
    ).json<{ pending: Message[] }>();
    expect(ids(pending.pending)).toEqual([human.id]);
    const turns = buildTurns(await list(room), human, 10);
    expect(turns.slice(1)).toEqual([
      { role: "user", content: JSON.stringify({ speaker: "ada", text: "a fair question" }) },
    ]);
  });
});

describe("deletion across flips", () => {
  it("kv → do: the tombstone in cache:<room> is merged as deleted (none skipped); a catch-up carries it, lists and heals do not bring it back", async () => {
    const room = uniqueRoom("del-flip-tomb");
    await setRoomMode(room, "kv");
    const keep = await post(room, "keep");
    const gone = await post(room, "deleted on kv");
    await removed(room, gone.id);
    await setRoomMode(room, "do");
    expect(ids(await list(room))).toEqual([keep.id]);
    const since = await (await call(`/api/comments?room=${room}&since=0`)).json<{ comments: Message[] }>();
    expect(since.comments.find((m) => m.id === gone.id)).toMatchObject({ deleted: true, text: "", author: "" });
    expect((await env.ROOM.getByName(room).inspect()).skippedOnReconcile).toBe(0);
    expect((await heal(gone.id, room)).status).toBe(410);
    await runDurableObjectAlarm(env.ROOM.getByName(room));
    expect(await cached(room)).toEqual([keep.id]);
  });

  it("kv → do: a cache tombstone of a message the log never had lands as a tombstone; one the log holds live turns it into one", async () => {
    const room = uniqueRoom("del-flip-unlogged");
    await setRoomMode(room, "do");
    const logged = await post(room, "in the log, live");
    await setRoomMode(room, "kv");
    // Injected: cache:<room> holds tombstones the log was never told about.
    const unlogged: Message = {
      id: `${Date.now()}-unlogged1`,
      room,
      kind: "human",
      author: "x",
      text: "never logged",
      status: "pending",
      createdAt: Date.now(),
    };
    const stones = [toTombstone(logged, Date.now()), toTombstone(unlogged, Date.now())];
    await env.CHAT_KV.put(`cache:${room}`, JSON.stringify(stones));
    await setRoomMode(room, "do");
    expect(await list(room)).toEqual([]);
    expect((await env.ROOM.getByName(room).inspect()).skippedOnReconcile).toBe(0);
    const repost = await postJson("/api/comments", { room, id: unlogged.id, text: "back again" });
    expect(repost.status).toBe(410);
    const direct = await call(`/api/comments/${logged.id}?room=${room}`);
    expect(direct.status).toBe(410);
  });

  it("kv → do after a kv-mode delete: a racy writer's stale cache:<room> does not bring it back", async () => {
    const room = uniqueRoom("del-flip");
    await setRoomMode(room, "kv");
    const keep = await post(room, "keep");
    const gone = await post(room, "delete me");
    const stale = await env.CHAT_KV.get(`cache:${room}`);
    expect(ids(JSON.parse(stale!) as Message[])).toEqual([keep.id, gone.id]);
    await removed(room, gone.id);
    expect(await cached(room)).toEqual([keep.id, gone.id]);
    // A concurrent kv writer that read the list before the delete writes it back (the legacy race).
    await env.CHAT_KV.put(`cache:${room}`, stale!);
    await setRoomMode(room, "do");
    expect(ids(await list(room))).toEqual([keep.id]);
    expect((await heal(gone.id, room)).status).toBe(410);
  });

  it("do → kv → delete → do: the message the log held from before does not come back", async () => {
    const room = uniqueRoom("del-round");
    await setRoomMode(room, "do");
    const keep = await post(room, "keep");
    const gone = await post(room, "in the log already");
    await setRoomMode(room, "kv");
    await removed(room, gone.id);
    await setRoomMode(room, "do");
    expect(ids(await list(room))).toEqual([keep.id]);
    await runDurableObjectAlarm(env.ROOM.getByName(room));
    expect(await cached(room)).toEqual([keep.id]);
  });
});

describe("refused deletions change nothing", () => {
  it("401 without the operator token (none, wrong, or the bot's)", async () => {
    const room = uniqueRoom("del-auth");
    await setRoomMode(room, "do");
    const m = await post(room, "safe");
    for (const headers of [{}, { authorization: "Bearer nope" }, BOT]) {
      const res = await remove(room, m.id, headers);
      expect(res.status).toBe(401);
      expect((await res.json<{ error: string }>()).error).toMatch(/bearer token/);
    }
    expect(ids(await list(room))).toEqual([m.id]);
  });

  it("400 for a bad id or a missing or bad room, 404 for an unknown id or another room's message, 405 for other methods", async () => {
    const room = uniqueRoom("del-bad");
    const other = uniqueRoom("del-other");
    await setRoomMode(room, "do");
    const m = await post(room, "safe");
    const cases: [string | null, string, number, string][] = [
      [room, "not-an-id", 400, "id must look like <epoch ms>-<base36>"],
      [null, m.id, 400, "room: room is required: ?room=<room>"],
      ["Bad_Room", m.id, 400, "room: room must match [a-z0-9][a-z0-9-]{0,63}"],
      [room, `${Date.now()}-unknown1`, 404, "message not found in this room"],
      [other, m.id, 404, "message not found in this room"],
    ];
    for (const [r, id, status, error] of cases) {
      const res = await remove(r, id);
      expect([r, id, res.status]).toEqual([r, id, status]);
      expect(await res.json()).toEqual({ error });
    }
    const put = await call(`/api/admin/messages/${m.id}?room=${room}`, { method: "POST", headers: ADMIN });
    expect(put.status).toBe(405);
    expect(ids(await list(room))).toEqual([m.id]);
    expect((await deletions()).some((d) => d.id === m.id)).toBe(false);
  });
});
