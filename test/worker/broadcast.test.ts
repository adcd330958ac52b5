// The room's pushes: flushed by the answer that caused them, with one fallback timer for the rest.
import { describe, expect, it } from "vitest";
import { Broadcaster } from "../../src/room/effects";

const recorder = () => {
  const sent: string[] = [];
  const socket = { send: (data: string) => sent.push(data) } as unknown as WebSocket;
  return { sent, broadcaster: new Broadcaster(() => [socket]) };
};

/** Counts the timeouts set until `restore`. */
const countTimers = () => {
  const realSetTimeout = globalThis.setTimeout;
  const counter = { count: 0, restore: () => void (globalThis.setTimeout = realSetTimeout) };
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    counter.count++;
    return realSetTimeout(...args);
  }) as typeof setTimeout;
  return counter;
};

describe("Broadcaster", () => {
  it("sends on flush, in order, and keeps one fallback timer however many answers flush (workerd allows 10,000 active timeouts)", () => {
    const { sent, broadcaster } = recorder();
    const timers = countTimers();
    try {
      // One turn, no timer can run in between: as a busy room, where timers run late.
      for (let i = 0; i < 12_000; i++) {
        broadcaster.push({ type: "nack", id: `m${i}`, status: 429, error: "x" });
        broadcaster.flush();
      }
    } finally {
      timers.restore();
    }
    expect(timers.count).toBe(1);
    expect(sent).toHaveLength(12_000);
    expect(JSON.parse(sent.at(-1)!)).toMatchObject({ id: "m11999" });
  });

  it("arms no timer for pushes made while an answer runs, and sends them as it ends, also when it throws", async () => {
    const { sent, broadcaster } = recorder();
    const timers = countTimers();
    try {
      await broadcaster.answering(async () => {
        broadcaster.push({ type: "pong" });
        await Promise.resolve();
        expect(sent).toHaveLength(0);
        sent.push("the answer");
      });
      expect(sent).toEqual(["the answer", JSON.stringify({ type: "pong" })]);
      const failing = broadcaster.answering(async () => {
        broadcaster.push({ type: "nack", id: "m1", status: 500, error: "x" });
        throw new Error("injected");
      });
      await expect(failing).rejects.toThrow("injected");
      expect(JSON.parse(sent.at(-1)!)).toMatchObject({ id: "m1" });
    } finally {
      timers.restore();
    }
    expect(timers.count).toBe(0);
  });

  it("sends a push no answer flushes by its timer", async () => {
    const { sent, broadcaster } = recorder();
    broadcaster.push({ type: "pong" });
    expect(sent).toHaveLength(0);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(sent).toEqual([JSON.stringify({ type: "pong" })]);
  });
});
