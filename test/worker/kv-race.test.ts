// The legacy path loses acknowledged writes under concurrency; the heal endpoint recovers them.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Message } from "../../src/shared/message";
import { heal, ids, list, post, setRoomMode, uniqueRoom } from "./helpers";

describe("kv mode (legacy read-modify-write)", () => {
  it("loses some of 29 concurrent posts from the cache while every one is in KV, and heals bring all back", async () => {
    const room = uniqueRoom("kv-race");
    await setRoomMode(room, "kv");
    const posted = await Promise.all(Array.from({ length: 29 }, (_, i) => post(room, `tab ${i}`)));
    expect(posted).toHaveLength(29);

    const records = await Promise.all(posted.map((m) => env.CHAT_KV.get<Message>(`comment:${room}:${m.id}`, "json")));
    expect(records.every((r) => r !== null)).toBe(true);

    const seen = new Set(ids(await list(room)));
    const missing = posted.filter((m) => !seen.has(m.id));
    expect(missing.length).toBeGreaterThan(0);

    // Healed one at a time, as the verification layer would; each heal is itself a kv RMW.
    for (const m of missing) {
      const res = await heal(m.id, room);
      expect(res.status).toBe(200);
      expect(res.headers.get("X-Cache-Mode")).toBe("kv");
      expect((await res.json<{ readded: boolean }>()).readded).toBe(true);
    }
    const after = new Set(ids(await list(room)));
    expect(posted.every((m) => after.has(m.id))).toBe(true);
  });
});
