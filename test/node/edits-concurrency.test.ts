// Edits and reactions under load, from outside: ten page-like clients (the page's own socket
// client and message store) toggle reactions and edit their messages at once, 200 operations
// in all, one of them reloading half way. Every client ends with the room's texts, versions
// and counts, as the room's log has them: no toggle and no edit is lost.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LiveSocket } from "../../src/client/live-socket";
import { REACTIONS, type Message, type Reaction } from "../../src/shared/message";
import type { CommentsResponse } from "../../src/shared/api";
import { MessageStore } from "../../src/web/chat/messages";
import { startLocalWorker, type LocalWorker } from "../../scripts/local-worker";
import { api, putFlags } from "./support/browser";

let worker: LocalWorker;
beforeAll(async () => {
  worker = await startLocalWorker();
});
afterAll(async () => {
  await worker?.stop();
});

const PAGES = 10;
const OPS_PER_PAGE = 20;

/** A page as far as messages go: its store, fed by a list, its socket's pushes and catch-ups. */
class PageClient {
  store = new MessageStore();
  private socket: LiveSocket | null = null;

  constructor(
    readonly room: string,
    readonly reactorKey: string,
  ) {}

  async open(): Promise<void> {
    this.store = new MessageStore();
    await this.catchUp(undefined);
    this.socket = new LiveSocket(`${worker.url.replace("http", "ws")}/api/rooms/${this.room}/ws`, {
      onFrame: (frame) => {
        if (frame.type === "message" || frame.type === "update") this.store.merge([frame.message]);
        if (frame.type === "hello" && frame.lastPos > this.store.lastPos) void this.catchUp(this.store.lastPos);
      },
      onStatus: () => undefined,
    });
    this.socket.start();
    expect(await this.socket.opened(10_000)).toBe(true);
  }

  close(): void {
    this.socket?.stop();
  }

  private async catchUp(since: number | undefined): Promise<void> {
    const query = since === undefined ? "limit=200" : `since=${since}&limit=200`;
    const { body } = await api<CommentsResponse>(worker, `/api/comments?room=${this.room}&${query}`);
    this.store.merge(body.comments);
  }
}

const view = (m: Message | undefined) => m && { text: m.text, version: m.version ?? 1, reactions: m.reactions ?? {} };

describe("edits and reactions from ten pages at once", () => {
  it("end equal on every page and in the room's log, a reloaded page too", async () => {
    const room = "edits-concurrent";
    await putFlags(worker, { defaultMode: "do", doPercent: 0, rooms: {} });
    const pages = Array.from(
      { length: PAGES },
      (_, i) => new PageClient(room, `reactor-of-page-${String(i).padStart(8, "0")}`),
    );
    await Promise.all(pages.map((page) => page.open()));
    const own = await Promise.all(
      pages.map(async (_, i) => {
        const editKey = `edit-key-of-page-${String(i).padStart(10, "0")}`;
        const { status, body } = await api<Message>(worker, "/api/comments", {
          method: "POST",
          body: { room, text: `page ${i}`, editKey },
        });
        expect(status).toBe(201);
        return { id: body.id, editKey, version: 1 };
      }),
    );
    const ids = own.map((o) => o.id);

    // Each page: reactions on random messages (toggling what it gave), or an edit of its own message.
    let seed = 7;
    const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const mine = pages.map(() => new Set<string>());
    const statuses: number[] = [];
    await Promise.all(
      pages.map(async (page, p) => {
        for (let op = 0; op < OPS_PER_PAGE; op++) {
          if (p === 3 && op === OPS_PER_PAGE / 2) {
            page.close();
            await page.open();
          }
          if (random(4) === 0) {
            const o = own[p]!;
            o.version++;
            const body = { room, text: `page ${p}, edit ${o.version}`, version: o.version, editKey: o.editKey };
            statuses.push((await api(worker, `/api/comments/${o.id}/edit`, { method: "POST", body })).status);
          } else {
            const id = ids[random(ids.length)]!;
            const emoji: Reaction = REACTIONS[random(REACTIONS.length)]!;
            const key = `${id} ${emoji}`;
            const on = !mine[p]!.has(key);
            const body = { room, emoji, on, reactorKey: page.reactorKey };
            statuses.push((await api(worker, `/api/comments/${id}/reactions`, { method: "POST", body })).status);
            if (on) mine[p]!.add(key);
            else mine[p]!.delete(key);
          }
        }
      }),
    );
    expect(statuses).toHaveLength(PAGES * OPS_PER_PAGE);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);

    // What the pages did, counted here: the room's counts must be exactly these.
    const expected = new Map<string, Record<string, number>>();
    for (const set of mine) {
      for (const key of set) {
        const [id, emoji] = key.split(" ") as [string, string];
        const counts = expected.get(id) ?? {};
        counts[emoji] = (counts[emoji] ?? 0) + 1;
        expected.set(id, counts);
      }
    }
    const { body } = await api<CommentsResponse>(worker, `/api/comments?room=${room}&limit=200`);
    const logged = new Map(body.comments.map((m) => [m.id, m]));
    for (const [i, o] of own.entries()) {
      expect(view(logged.get(o.id)), `message of page ${i}`).toEqual({
        text: o.version === 1 ? `page ${i}` : `page ${i}, edit ${o.version}`,
        version: o.version,
        reactions: expected.get(o.id) ?? {},
      });
    }

    // Every page, the reloaded one too, converges on the log by its pushes (bounded wait).
    const equal = (page: PageClient) =>
      ids.every((id) => JSON.stringify(view(page.store.get(id))) === JSON.stringify(view(logged.get(id))));
    const deadline = Date.now() + 15_000;
    while (!pages.every(equal) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(pages.map(equal)).toEqual(pages.map(() => true));
    for (const page of pages) page.close();
  });
});
