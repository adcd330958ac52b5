// The room's pushes: flushed by the answer that caused them, with one fallback timer.
import { describe, expect, it } from "vitest";
import { Broadcaster } from "../../src/room/effects";

const recorder = () => {
  const sent: string[] = [];
  const socket = { send: (data: string) => sent.push(data) } as unknown as WebSocket;
  return { sent, broadcaster: new Broadcaster(() => [socket]) };
};

describe("Broadcaster", () => {
  it("sends on flush, in order, and keeps one fallback timer however many answers flush (workerd allows 10,000 active timeouts)", () => {
    const { sent, broadcaster } = recorder();
    const realSetTimeout = globalThis.setTimeout;
    let timers = 0;
    globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
      timers++;
      return realSetTimeout(...args);
    }) as typeof setTimeout;
    try {
      // One turn, no timer can run in between: as a busy room, where timers run late.
      for (let i = 0; i < 12_000; i++) {
        broadcaster.push({ type: "nack", id: `m${i}`, status: 429, error: "x" });
        broadcaster.flush();
      }
    } finally {
      globalThis.setTimeout = realSetTimeout;
    }
    expect(timers).toBe(1);
    expect(sent).toHaveLength(12_000);
    expect(JSON.parse(sent.at(-1)!)).toMatchObject({ id: "m11999" });
  });

  it("sends a push no answer flushes by its timer", async () => {
    const { sent, broadcaster } = recorder();
    broadcaster.push({ type: "pong" });
    expect(sent).toHaveLength(0);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(sent).toEqual([JSON.stringify({ type: "pong" })]);
  });
});
