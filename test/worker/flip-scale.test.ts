// A flip of the default from do to kv with thousands of rooms in do mode: bounded
// batches per request (202 + the same PUT again), the flag published only once every
// leaving room is flushed, and nothing a room acknowledged missing from kv afterwards.
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Control } from "../../src/control/control";
import { FLIP_ROOMS_PER_REQUEST } from "../../src/worker/routes/admin";
import { getFlags, list, post, setFlags, uniqueRoom } from "./helpers";

const ROOMS = 5_000;

describe("a flip of 5,000 do rooms", () => {
  it("flushes them in bounded, resumable steps and publishes the flag last", async () => {
    expect((await setFlags({ defaultMode: "do", doPercent: 0, rooms: {} })).status).toBe(200);
    const live = [uniqueRoom("scale-a"), uniqueRoom("scale-b")];
    const posted = await Promise.all(live.map((room) => post(room, `kept in ${room}`)));
    // The rest are rooms the Control object lists as in do mode (their objects hold nothing yet).
    await runInDurableObject(env.CONTROL.getByName("global"), (_: Control, state) => {
      for (let i = 0; i < ROOMS - live.length; i++) state.storage.sql.exec(`INSERT INTO do_rooms (name, since) VALUES (?, 0)`, `scale-${i}`);
    });
    const versionBefore = (await getFlags()).version;

    const statuses: number[] = [];
    let flushed = 0;
    for (let step = 0; step < 20; step++) {
      const res = await setFlags({ defaultMode: "kv", doPercent: 0, rooms: {} });
      statuses.push(res.status);
      flushed += (await res.json<{ flushed: string[] }>()).flushed.length;
      if (res.status !== 202) break;
      expect((await getFlags()).version).toBe(versionBefore); // not published while rooms remain
    }
    expect(statuses).toEqual([...Array(Math.ceil(ROOMS / FLIP_ROOMS_PER_REQUEST) - 1).fill(202), 200]);
    expect(flushed).toBe(ROOMS);
    const after = await getFlags();
    expect(after.defaultMode).toBe("kv");
    expect(after.version).toBeGreaterThan(versionBefore);
    const left = await runInDurableObject(env.CONTROL.getByName("global"), (_: Control, state) => state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM do_rooms`).one().n);
    expect(left).toBe(0);
    for (const [i, room] of live.entries()) expect((await list(room)).map((m) => m.id)).toContain(posted[i]!.id);
  }, 120_000);
});
