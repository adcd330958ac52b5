// Against a real `wrangler dev`, where the Worker and the Room objects share an isolate (as
// they may in production): a stats flush started in one context must never be what another
// context's waitUntil holds. workerd cancelled such a promise when its owner ended and reset
// the Room, dropping every socket with 1006 (found by the bench's requests scenario: page-like
// tabs in a do room beside tabs polling a kv room). Each object now keeps its own batch.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatClient } from "../../bench/lib/api";
import { PAGE_CADENCE, Tab } from "../../bench/lib/tab";
import { startLocalWorker, type LocalWorker } from "../../scripts/local-worker";

let worker: LocalWorker;
const tabs: Tab[] = [];
beforeAll(async () => {
  worker = await startLocalWorker();
});
afterAll(async () => {
  for (const tab of tabs) tab.stop();
  await worker?.stop();
});

function openTabs(room: string, count: number): Tab[] {
  const opened = Array.from(
    { length: count },
    (_, i) =>
      new Tab({ client: new ChatClient(worker.url), room, author: `tab ${i}`, cadence: PAGE_CADENCE, push: true }),
  );
  tabs.push(...opened);
  return opened;
}

describe("local stats batches", () => {
  it("keep a do room's sockets open while a kv room beside it is polled", async () => {
    const admin = new ChatClient(worker.url, { admin: worker.adminToken });
    const doRoom = `stats-do-${Date.now()}`;
    const kvRoom = `stats-kv-${Date.now()}`;
    await admin.setRoomMode(kvRoom, "kv");
    await admin.setRoomMode(doRoom, "do");
    const doTabs = openTabs(doRoom, 20);
    const kvTabs = openTabs(kvRoom, 20);
    await Promise.all([...doTabs, ...kvTabs].map((tab) => tab.open()));
    const before = (await admin.inspectRoom(doRoom)).usage.since;

    // Half the do tabs post over their sockets (the room records a stat per message) while
    // the kv tabs poll (the Worker records its KV usage per request).
    const until = Date.now() + 20_000;
    await Promise.all(
      doTabs.slice(0, 10).map(async (tab, i) => {
        for (let n = 0; Date.now() < until; n++) {
          await tab.post(`tab ${i} message ${n}`);
          await new Promise((r) => setTimeout(r, 5_000 + Math.random() * 5_000));
        }
      }),
    );

    expect(doTabs.map((tab) => tab.socketCounts.connects)).toEqual(Array(20).fill(1));
    // The same object throughout: its in-memory counters were never reset.
    expect((await admin.inspectRoom(doRoom)).usage.since).toBe(before);
  });
});
