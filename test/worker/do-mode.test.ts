// The serialized path: concurrent posts all land, in order, with no duplicates,
// and nothing acknowledged is lost when the Room object is evicted or aborted.
import { env } from "cloudflare:workers";
import { abortAllDurableObjects, evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Message } from "../../src/shared/message";
import { call, heal, ids, list, post, postJson, setRoomMode, uniqueRoom } from "./helpers";

function expectContiguousSeq(messages: Message[]): void {
  const seqs = messages.map((m) => m.seq!);
  for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1);
}

describe("do mode (Room Durable Object)", () => {
  for (const count of [29, 500]) {
    it(`keeps all ${count} concurrent posts on first read, in seq order, without duplicates`, async () => {
      const room = uniqueRoom(`do-${count}`);
      await setRoomMode(room, "do");
      const posted = await Promise.all(Array.from({ length: count }, (_, i) => post(room, `tab ${i}`)));
      expect(posted.every((m) => m.seq !== undefined)).toBe(true);

      // Page forward with `since`, as a reconnecting client catches up.
      const seen: Message[] = [];
      let since = 0;
      for (;;) {
        const res = await call(`/api/comments?room=${room}&limit=200&since=${since}`);
        expect(res.headers.get("X-Cache-Mode")).toBe("do");
        const page = (await res.json<{ comments: Message[] }>()).comments;
        if (page.length === 0) break;
        seen.push(...page);
        since = page[page.length - 1]!.pos!;
        if (page.length < 200) break;
      }
      const unique = new Set(ids(seen));
      expect(unique.size).toBe(seen.length);
      expect(posted.every((m) => unique.has(m.id))).toBe(true);
      expectContiguousSeq(seen);

      const heals = await Promise.all(
        posted.slice(0, 29).map((m) => heal(m.id, room).then((r) => r.json<{ readded: boolean }>())),
      );
      expect(heals.filter((h) => h.readded)).toHaveLength(0);
    });
  }

  it("loses nothing acknowledged when the room object is evicted between writes", async () => {
    const room = uniqueRoom("do-evict");
    await setRoomMode(room, "do");
    const acked: Message[] = [];
    for (let i = 0; i < 10; i++) {
      acked.push(await post(room, `before eviction ${i}`));
      await evictDurableObject(env.ROOM.getByName(room));
    }
    const seen = ids(await list(room));
    expect(seen).toEqual(ids(acked));
  });

  it("loses nothing acknowledged when objects are aborted while writes are in flight", async () => {
    const room = uniqueRoom("do-abort");
    await setRoomMode(room, "do");
    const acked: Message[] = [];
    const refusals: { status: number; retryAfter: string | null }[] = [];
    // Five writers keep posting; the abort lands in the middle of their stream.
    const writer = async (w: number) => {
      for (let i = 0; i < 15; i++) {
        const res = await postJson("/api/comments", { room, text: `writer ${w} #${i}` });
        if (res.status === 201) acked.push(await res.json<Message>());
        // not acknowledged: the client retries with the same id after Retry-After
        else refusals.push({ status: res.status, retryAfter: res.headers.get("retry-after") });
      }
    };
    const writers = Promise.all(Array.from({ length: 5 }, (_, w) => writer(w)));
    while (acked.length < 10) await new Promise((r) => setTimeout(r, 1));
    await abortAllDurableObjects();
    await writers;
    expect(acked.length + refusals.length).toBe(75);
    for (const refusal of refusals) expect(refusal).toEqual({ status: 503, retryAfter: "1" });
    expect(acked.length).toBeGreaterThan(10);
    const seen = new Set(ids(await list(room)));
    expect(acked.filter((m) => !seen.has(m.id))).toEqual([]);
  });

  it("answers a retried send with the stored message instead of a duplicate", async () => {
    const room = uniqueRoom("do-idem");
    await setRoomMode(room, "do");
    const id = `${Date.now()}-retry01`;
    const [a, b] = await Promise.all([post(room, "once", { id }), post(room, "once", { id })]);
    expect(a.id).toBe(id);
    expect(b.id).toBe(id);
    const again = await postJson("/api/comments", { room, text: "once", id });
    expect(again.status).toBe(200);
    expect((await list(room)).filter((m) => m.id === id)).toHaveLength(1);
  });
});
