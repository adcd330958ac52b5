// The benchmark's fast route to a long room history: rows written into the stopped
// Room DO's SQLite must be served by the restarted Worker like any others.
import { afterAll, describe, expect, it } from "vitest";
import type { CommentsResponse } from "../../src/shared/api";
import type { Message } from "../../src/shared/message";
import { ChatClient } from "../../bench/lib/api";
import { BenchWorker } from "../../bench/lib/bench-worker";
import { appendHistory, roomDatabaseFile } from "../../bench/lib/seed-sqlite";

const worker = new BenchWorker();
afterAll(() => worker.dispose());

describe("bench history seeding through the Room DO's SQLite", () => {
  it("is read back by the restarted Worker, and the room keeps working on it", async () => {
    await worker.start();
    const admin = new ChatClient(worker.url, { admin: worker.adminToken });
    await admin.setRoomMode("seeded", "do");
    await admin.setRoomMode("other", "do");
    const first = await admin.post("seeded", "history starts here", "bench");
    await admin.post("other", "a neighbour", "bench");

    expect(() => roomDatabaseFile(worker.persistTo, "never-used")).toThrow(
      /no Room Durable Object file for room never-used/,
    );
    let lastSeq = 0;
    await worker.restart(() => {
      lastSeq = appendHistory(roomDatabaseFile(worker.persistTo, "seeded"), 999);
    });
    expect(lastSeq).toBe(1000);

    const list = async (room: string) =>
      (await (await fetch(`${worker.url}/api/comments?room=${room}&limit=200`)).json()) as CommentsResponse;
    const seeded = await list("seeded");
    expect(seeded.mode).toBe("do");
    expect(seeded.lastSeq).toBe(1000);
    expect(seeded.comments).toHaveLength(200);
    expect(seeded.comments.map((m) => m.seq)).toEqual(Array.from({ length: 200 }, (_, i) => 801 + i));
    const ai = seeded.comments.filter((m: Message) => m.kind === "ai");
    expect(ai.length).toBe(100);
    // Each seeded reply answers the human message just before it (the window's first may have its question cut off).
    const bySeq = new Map(seeded.comments.map((m) => [m.seq, m]));
    expect(ai.filter((m) => m.seq! > 801).every((m) => m.replyTo === bySeq.get(m.seq! - 1)?.id)).toBe(true);
    // Only the seeded room grew.
    expect((await list("other")).lastSeq).toBe(1);

    // The restarted Worker listens on a new port.
    const after = await new ChatClient(worker.url).post("seeded", "life goes on", "bench");
    expect(after.seq).toBe(1001);
    expect((await list("seeded")).comments.at(-1)!.id).toBe(after.id);
    expect(first.seq).toBe(1);
  });
});
