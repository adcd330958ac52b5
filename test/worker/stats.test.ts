// Stats reach the operator page through the stats store (locally the LocalStats object that
// stands in for Analytics Engine), per mode, without any shared object on the message path.
import { describe, expect, it } from "vitest";
import type { StatsResponse } from "../../src/shared/api";
import { LOCAL_FLUSH_MS } from "../../src/control/stats";
import { ADMIN, call, getFlags, post, postJson, setRoomMode, uniqueRoom } from "./helpers";

const stats = async (): Promise<StatsResponse> =>
  (await call("/api/admin/stats", { headers: ADMIN })).json<StatsResponse>();
const figures = (s: StatsResponse) => JSON.stringify(s.modes);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The figures once no batch is on its way: two reads a batch window apart agree (bounded). */
async function settled(): Promise<StatsResponse> {
  let last = await stats();
  for (let i = 0; i < 10; i++) {
    await sleep(LOCAL_FLUSH_MS + 200);
    const next = await stats();
    if (figures(next) === figures(last)) return next;
    last = next;
  }
  throw new Error("the stats never settled");
}

describe("stats through the stats store", () => {
  it("reach the operator page per mode: posts and heals", async () => {
    const doRoom = uniqueRoom("stats-do");
    const kvRoom = uniqueRoom("stats-kv");
    await setRoomMode(kvRoom, "kv");
    await setRoomMode(doRoom, "do");
    const before = await settled();
    await post(doRoom, "one");
    await post(doRoom, "two");
    const kvPost = await post(kvRoom, "three");
    expect((await postJson("/api/admin/add-to-cache", { messageId: kvPost.id, room: kvRoom })).status).toBe(200);
    const after = await settled();
    expect(after.modes.do.humanPosts - before.modes.do.humanPosts).toBe(2);
    expect(after.modes.kv.humanPosts - before.modes.kv.humanPosts).toBe(1);
    expect(after.modes.kv.healsRequested - before.modes.kv.healsRequested).toBe(1);
    expect(after.modes.kv.healsReadded - before.modes.kv.healsReadded).toBe(0); // it was there
    expect(after.modes.do.rooms).toBe(before.modes.do.rooms! + 1);
    expect(after.timeline.some((point) => point.mode === "kv" && point.requested > 0)).toBe(true);
    expect(after.unavailable).toBeUndefined();
    expect((await getFlags()).rooms).toMatchObject({ [kvRoom]: "kv" });
  });
});
