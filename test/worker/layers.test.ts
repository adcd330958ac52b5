// The Room knows its own name from its id (ctx.id.name), also after eviction and in alarms;
// the Control object's schema comes from the same migration runner as the Room's.
import { env } from "cloudflare:workers";
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { CONTROL_MIGRATIONS } from "../../src/control/migrations";
import type { Control } from "../../src/control/control";
import type { Room } from "../../src/room/room";
import { connect, frameOf, getFlags, uniqueRoom } from "./helpers";

describe("Room name from ctx.id.name", () => {
  it("is the name the Worker asked for, before and after eviction, with nothing stored", async () => {
    const room = uniqueRoom("named");
    const stub = env.ROOM.getByName(room);
    expect(await runInDurableObject(stub, (_: Room, state) => state.id.name)).toBe(room);
    await evictDurableObject(stub);
    expect(await runInDurableObject(env.ROOM.getByName(room), (_: Room, state) => state.id.name)).toBe(room);
    // A never-written room stores no name, yet knows it.
    expect((await env.ROOM.getByName(room).inspect()).room).toBe(room);
  });

  it("names itself in a socket's hello without being told by the Worker", async () => {
    const room = uniqueRoom("hello");
    const socket = await connect(room);
    expect((await socket.next(frameOf("hello"))).room).toBe(room);
    socket.ws.close();
  });
});

describe("Control schema by the shared migration runner", () => {
  it("records every Control migration once", async () => {
    await getFlags();
    const versions = await runInDurableObject(env.CONTROL.getByName("global"), (_: Control, state) =>
      state.storage.sql
        .exec<{ version: number; name: string }>(`SELECT version, name FROM _migrations ORDER BY version`)
        .toArray(),
    );
    expect(versions).toEqual(CONTROL_MIGRATIONS.map(({ version, name }) => ({ version, name })));
  });

  it("adopts a Control object made before the runner (tables, no _migrations) and keeps its data", async () => {
    const stub = env.CONTROL.getByName(`legacy-${uniqueRoom()}`);
    await runInDurableObject(stub, (_: Control, state) => {
      state.storage.sql.exec(`DROP TABLE _migrations`);
      state.storage.sql.exec(`INSERT INTO audit (at, who, before, after) VALUES (7, 'ana', '{}', '{}')`);
    });
    await evictDurableObject(stub);
    const after = await runInDurableObject(env.CONTROL.getByName(stub.id.name!), (_: Control, state) => ({
      versions: state.storage.sql
        .exec<{ version: number }>(`SELECT version FROM _migrations`)
        .toArray()
        .map((r) => r.version),
    }));
    expect(after.versions).toEqual(CONTROL_MIGRATIONS.map((m) => m.version));
    expect((await env.CONTROL.getByName(stub.id.name!).getFlags()).audit.map((a) => a.who)).toEqual(["ana"]);
  });
});
