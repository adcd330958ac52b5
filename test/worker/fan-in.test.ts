// Nothing global per message: a room calls a shared object (the Control object or its
// registry shard) only when its own mode changes; messages, reads and sockets of unknown
// rooms, and flag changes that leave a room where it was, call none.
import { describe, expect, it } from "vitest";
import type { StatsResponse } from "../../src/shared/api";
import type { UsageReport } from "../../src/shared/usage";
import { ADMIN, call, connect, frameOf, list, listedInRegistry, post, postJson, setFlags, uniqueRoom } from "./helpers";

const stats = async (): Promise<StatsResponse> =>
  (await call("/api/admin/stats", { headers: ADMIN })).json<StatsResponse>();

/** Calls the shared objects took between two reports of the same objects (none restarted meanwhile). */
function sharedCalls(before: UsageReport, after: UsageReport): { control: number; registry: number } {
  expect(after.control.since).toBe(before.control.since);
  return {
    control: after.control.requests - before.control.requests,
    registry: after.registry.requests - before.registry.requests,
  };
}

async function setRooms(rooms: Record<string, "kv" | "do">): Promise<void> {
  const res = await setFlags({ defaultMode: "do", doPercent: 0, rooms });
  expect(res.status).toBe(200);
}

describe("calls into shared objects", () => {
  it("a flag change naming one room makes that room alone call its registry shard, which asks Control once", async () => {
    const [moved, ...others] = Array.from({ length: 6 }, () => uniqueRoom("fan-in"));
    await setRooms({});
    for (const room of [moved!, ...others]) await post(room, "registers the room");
    expect(await listedInRegistry(moved!)).toBe(true);

    await setRooms({ [moved!]: "kv" }); // flushed by the PUT: an operator call, not a room's
    expect(await listedInRegistry(moved!)).toBe(false);
    const quiet = (await stats()).usage!;
    for (const room of [moved!, ...others]) await post(room, "after the first change");
    // The other rooms saw a newer flag that leaves them in do mode: nothing to tell anyone.
    expect(sharedCalls(quiet, (await stats()).usage!)).toEqual({ control: 0, registry: 0 });

    await setRooms({});
    const back = (await stats()).usage!;
    for (const room of others) await post(room, "after the second change");
    expect(sharedCalls(back, (await stats()).usage!)).toEqual({ control: 0, registry: 0 });
    const res = await postJson("/api/comments", { room: moved, text: "back in do mode" });
    expect(res.headers.get("X-Cache-Mode")).toBe("do");
    // Its shard learns the new flag from Control once; the room registers once.
    expect(sharedCalls(back, (await stats()).usage!)).toEqual({ control: 1, registry: 1 });
    expect(await listedInRegistry(moved!)).toBe(true);
    expect((await list(moved!)).map((m) => m.text)).toEqual([
      "registers the room",
      "after the first change",
      "back in do mode",
    ]);
  });

  it("reads and sockets of never-written rooms call neither Control nor the registry", async () => {
    await setRooms({});
    const before = (await stats()).usage!;
    for (let i = 0; i < 5; i++) {
      const room = uniqueRoom("never-written");
      expect((await call(`/api/comments?room=${room}`)).status).toBe(200);
      expect((await call(`/api/comments?room=${room}&since=0`)).status).toBe(200);
      const socket = await connect(room);
      expect(await socket.next(frameOf("hello"))).toMatchObject({ room, mode: "do" });
      socket.ws.close(1000, "done");
    }
    expect(sharedCalls(before, (await stats()).usage!)).toEqual({ control: 0, registry: 0 });
  });

  it("a room's first message registers it once; later messages call nobody", async () => {
    await setRooms({});
    const room = uniqueRoom("first-write");
    const before = (await stats()).usage!;
    await post(room, "first");
    const registered = (await stats()).usage!;
    expect(sharedCalls(before, registered).registry).toBe(1);
    for (let i = 0; i < 10; i++) await post(room, `message ${i}`);
    expect(sharedCalls(registered, (await stats()).usage!)).toEqual({ control: 0, registry: 0 });
  });
});
