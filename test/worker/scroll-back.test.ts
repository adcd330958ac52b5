// Scroll-back: `GET /api/comments?room=&before=<seq>&limit=` pages backward through a do room's
// whole log, by the log order, to its first message; kv rooms and bad input answer 400.
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { PAGE_BEFORE_SQL } from "../../src/room/log";
import type { CommentsResponse } from "../../src/shared/api";
import type { Message } from "../../src/shared/message";
import { BOT, call, ids, post, postJson, setRoomMode, uniqueRoom } from "./helpers";

async function page(
  room: string,
  query: string,
): Promise<{ status: number; mode: string | null; body: CommentsResponse & { error?: string } }> {
  const res = await call(`/api/comments?room=${room}&${query}`);
  return { status: res.status, mode: res.headers.get("X-Cache-Mode"), body: await res.json() };
}

/** Pages back from the newest page until the room says nothing older remains. */
async function scrollToStart(
  room: string,
  limit: number,
  between: (page: Message[]) => Promise<void> = async () => {},
): Promise<Message[][]> {
  const pages: Message[][] = [];
  let { body } = await page(room, `limit=${limit}`);
  pages.push(body.comments);
  for (let guard = 0; guard < 1000; guard++) {
    await between(body.comments);
    const oldest = body.comments[0];
    if (!oldest) break;
    ({ body } = await page(room, `limit=${limit}&before=${oldest.seq}`));
    expect(body.mode).toBe("do");
    pages.push(body.comments);
    if (!body.more) break;
  }
  return pages;
}

describe("scroll-back (do rooms)", () => {
  it("pages back to the first message in log order, with no gap and no duplicate, while messages change status", async () => {
    const room = uniqueRoom("scroll");
    await setRoomMode(room, "do");
    const posted: Message[] = [];
    // Sequential, so the posting order is the log order.
    for (let i = 0; i < 230; i++) posted.push(await post(room, `message ${i}`));

    // A status change moves a message's change position (`pos`); it must not move it between pages.
    const claimed: string[] = [];
    const pages = await scrollToStart(room, 37, async (current) => {
      const older = posted[posted.indexOf(posted.find((m) => m.id === current[0]?.id)!) - 5];
      if (!older) return;
      const res = await postJson("/api/bot/claim", { messageId: older.id, botId: "scroll-bot", room }, BOT);
      expect(res.status).toBe(200);
      claimed.push(older.id);
    });

    expect(claimed.length).toBeGreaterThan(3);
    const seen = pages.flat();
    expect(ids(seen.toSorted((a, b) => a.seq! - b.seq!))).toEqual(ids(posted));
    expect(new Set(ids(seen)).size).toBe(seen.length);
    for (const p of pages) expect(p.map((m) => m.seq)).toEqual(p.map((m) => m.seq).toSorted((a, b) => a! - b!));
    // 230 = 6 full pages of 37 + 8: the last page holds the room's first message and says so.
    expect(pages.map((p) => p.length)).toEqual([37, 37, 37, 37, 37, 37, 8]);
    expect(pages.at(-1)![0]!.id).toBe(posted[0]!.id);
    expect(seen.filter((m) => claimed.includes(m.id)).every((m) => m.status === "processing")).toBe(true);
  });

  it("says more: true until the first message, and an empty page before it", async () => {
    const room = uniqueRoom("scroll-edge");
    await setRoomMode(room, "do");
    const posted: Message[] = [];
    for (let i = 0; i < 4; i++) posted.push(await post(room, `m${i}`));
    const exact = await page(room, `limit=2&before=${posted[2]!.seq}`);
    expect(ids(exact.body.comments)).toEqual(ids(posted.slice(0, 2)));
    expect(exact.body.more).toBe(false);
    const middle = await page(room, `limit=1&before=${posted[2]!.seq}`);
    expect(ids(middle.body.comments)).toEqual([posted[1]!.id]);
    expect(middle.body.more).toBe(true);
    const none = await page(room, `limit=50&before=${posted[0]!.seq}`);
    expect(none.status).toBe(200);
    expect(none.body).toMatchObject({ comments: [], more: false, mode: "do" });
    // Past the end: the newest page.
    expect(ids((await page(room, `limit=3&before=999999`)).body.comments)).toEqual(ids(posted.slice(1)));
  });

  it("a never-written do room answers an empty page and creates nothing", async () => {
    const room = uniqueRoom("scroll-empty");
    await setRoomMode(room, "do");
    const answer = await page(room, "before=10");
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ comments: [], more: false, mode: "do" });
    const tables = await runInDurableObject(env.ROOM.getByName(room), (_room, state) =>
      state.storage.sql.exec(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'messages'`).toArray(),
    );
    expect(tables).toEqual([]);
  });

  it("reads a page by the rowid range (the lease is in the row: no join), never a scan of the log", async () => {
    const room = uniqueRoom("scroll-plan");
    await setRoomMode(room, "do");
    await post(room, "one");
    const plan = await runInDurableObject(env.ROOM.getByName(room), (_room, state) =>
      state.storage.sql
        .exec<{ detail: string }>(`EXPLAIN QUERY PLAN ${PAGE_BEFORE_SQL}`, 10, 5)
        .toArray()
        .map((row) => row.detail),
    );
    expect(plan.some((d) => /SEARCH m USING INTEGER PRIMARY KEY \(rowid<\?\)/.test(d))).toBe(true);
    expect(plan.some((d) => /^SCAN m\b/.test(d) || /TEMP B-TREE/.test(d))).toBe(false);
  });
});

describe("scroll-back: refusals", () => {
  it("answers 400 with the reason for bad before/limit and changes nothing", async () => {
    const room = uniqueRoom("scroll-bad");
    await setRoomMode(room, "do");
    const first = await post(room, "only message");
    const cases: [string, string][] = [
      ["before=abc", "before: before must be a whole number"],
      ["before=1.5", "before: before must be a whole number"],
      ["before=0", "before: before must be 1 or more"],
      ["before=-3", "before: before must be 1 or more"],
      ["before=5&limit=201", "limit: limit must be at most 200"],
      ["before=5&limit=0", "limit: limit must be at least 1"],
      ["before=5&since=1", "before: since and before cannot be combined"],
    ];
    for (const [query, error] of cases) {
      const answer = await page(room, query);
      expect(answer.status, query).toBe(400);
      expect(answer.body.error, query).toContain(error);
    }
    const all = (await page(room, "limit=200")).body.comments;
    expect(ids(all)).toEqual([first.id]);
  });

  it("kv rooms: before answers 400, saying the KV value holds only the newest messages", async () => {
    const room = uniqueRoom("scroll-kv");
    await setRoomMode(room, "kv");
    await post(room, "kv message");
    const answer = await page(room, "before=5&limit=10");
    expect(answer.status).toBe(400);
    expect(answer.mode).toBe("kv");
    expect(answer.body.error).toBe(
      "before: scroll-back needs a do room; in kv mode a room keeps only its newest 200 messages",
    );
  });
});
