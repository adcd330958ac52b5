// The one verifier (src/client/verifier.ts) used by the page, the bot and the lab's tabs:
// first-check bookkeeping, heals over real HTTP (a local server answering
// POST /api/admin/add-to-cache as each test scripts it), backoff on no answer or a 5xx,
// a pause on 429, the final 4xx rule, the settle rule and the persistence hook.
// The verifier's clock is injected, so time moves only when a test moves it.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { PendingStore as BotPendingStore, type PendingReply } from "../../bot/state";
import { requestJson } from "../../src/client/http";
import { MemoryPendingIds, type PendingId } from "../../src/client/pending-ids";
import { MAX_HEAL_BACKOFF_MS, Verifier, type FirstCheck, type VerifiedBy } from "../../src/client/verifier";
import type { HealResponse } from "../../src/shared/api";
import type { Message } from "../../src/shared/message";
import { PENDING_KEY, PendingStore as PagePendingStore, type PendingEntry } from "../../src/web/chat/pending";

/** How the heal server answers one call: a status (200 = readded as given), or "drop" (no answer). */
type Answer = { status: 200; readded: boolean } | { status: number; retryAfter?: number } | "drop";

let server: Server;
let baseUrl: string;
const script = new Map<string, Answer[]>();
const healCalls: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      const { messageId } = JSON.parse(body) as { messageId: string };
      healCalls.push(messageId);
      const answer = script.get(messageId)?.shift() ?? { status: 200, readded: true };
      if (answer === "drop") return req.socket.destroy();
      const headers: Record<string, string> = { "content-type": "application/json" };
      if ("retryAfter" in answer && answer.retryAfter) headers["retry-after"] = String(answer.retryAfter);
      res.writeHead(answer.status, headers);
      const ok = answer.status === 200 && "readded" in answer;
      res.end(
        JSON.stringify(
          ok
            ? { ok: true, readded: answer.readded, message: message(messageId, 0), mode: "kv" }
            : { error: `scripted ${answer.status}` },
        ),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  script.clear();
  healCalls.length = 0;
});

const ROOM = "unit-room";
const message = (id: string, createdAt: number, room = ROOM): Message => ({
  id,
  room,
  kind: "human",
  author: "ada",
  text: id,
  status: "pending",
  createdAt,
});
const entry = (id: string, createdAt = 1_000, ackedAt = 1_000): PendingId => ({ id, room: ROOM, createdAt, ackedAt });
const heal = async (e: PendingId) =>
  (await requestJson<HealResponse>(`${baseUrl}/api/admin/add-to-cache`, { method: "POST", json: { messageId: e.id } }))
    .body;

/** A verifier on an injected clock, recording every event. */
function setup(options: { settleMs?: number; store?: MemoryPendingIds } = {}) {
  const clock = { now: 10_000 };
  const log = {
    first: new Map<string, FirstCheck>(),
    verified: new Map<string, VerifiedBy>(),
    outOfWindow: [] as string[],
    readded: [] as string[],
    failed: [] as { id: string; waitMs: number }[],
    paused: [] as number[],
    gaveUp: [] as { id: string; reason: string }[],
  };
  const verifier = new Verifier(options.store ?? new MemoryPendingIds(), {
    heal,
    now: () => clock.now,
    random: () => 0, // the backoff's lower bound: half its ceiling
    settleMs: options.settleMs,
    events: {
      onFirstCheck: (e, result) => {
        expect(log.first.has(e.id), `a second first check of ${e.id}`).toBe(false);
        log.first.set(e.id, result);
      },
      onVerified: (e, by) => log.verified.set(e.id, by),
      onOutOfWindow: (e) => log.outOfWindow.push(e.id),
      onReadded: (e) => log.readded.push(e.id),
      onHealFailed: (e, _reason, waitMs) => log.failed.push({ id: e.id, waitMs }),
      onHealsPaused: (waitMs) => log.paused.push(waitMs),
      onGaveUp: (e, reason) => log.gaveUp.push({ id: e.id, reason }),
    },
  });
  return { verifier, clock, log };
}

describe("first check", () => {
  it("an id in the first poll after its acknowledgement is 'in'; a poll requested before the acknowledgement proves nothing", async () => {
    const { verifier, log } = setup();
    verifier.add(entry("a", 1_000, 5_000));
    // Requested at 4 000, before the ack at 5 000: neither found nor missing.
    expect(await verifier.check(ROOM, [message("a", 1_000)], 4_000, 50)).toBe(false);
    expect(verifier.size).toBe(1);
    expect(log.first.size).toBe(0);
    await verifier.check(ROOM, [message("a", 1_000)], 6_000, 50);
    expect(log.first.get("a")).toBe("in");
    expect(log.verified.get("a")).toBe("poll");
    expect(verifier.size).toBe(0);
    expect(healCalls).toEqual([]);
  });

  it("a push before any poll is 'push', also when the push came before the acknowledgement", async () => {
    const { verifier, log } = setup();
    verifier.add(entry("a"));
    expect(verifier.seen(["a"], "push")).toBe(1);
    // Pushed first, acknowledged after: add() finds it seen and keeps nothing pending.
    verifier.seen(["b"], "push");
    expect(verifier.add(entry("b"))).toBe(false);
    expect(Object.fromEntries(log.first)).toEqual({ a: "push", b: "push" });
    expect(Object.fromEntries(log.verified)).toEqual({ a: "push", b: "push" });
    expect(verifier.size).toBe(0);
  });

  it("older than a full list's window is 'out-of-window' and never healed", async () => {
    const { verifier, log } = setup();
    verifier.add(entry("old", 500));
    const full = [message("x", 900), message("y", 950)];
    await verifier.check(ROOM, full, 20_000, 2);
    expect(log.first.get("old")).toBe("out-of-window");
    expect(log.outOfWindow).toEqual(["old"]);
    expect(healCalls).toEqual([]);
    expect(verifier.size).toBe(0);
  });
});

describe("heal", () => {
  it("heals an id missing from its first poll; a re-added id stays pending until a poll shows it", async () => {
    const { verifier, log } = setup();
    verifier.add(entry("a"));
    script.set("a", [{ status: 200, readded: true }]);
    expect(await verifier.check(ROOM, [message("other", 1_500)], 20_000, 50)).toBe(true);
    expect(log.first.get("a")).toBe("missing");
    expect(healCalls).toEqual(["a"]);
    expect(log.readded).toEqual(["a"]);
    expect(verifier.size).toBe(1);

    await verifier.check(ROOM, [message("a", 1_000), message("other", 1_500)], 21_000, 50);
    // Its first check stays "missing": only the first poll decides that.
    expect(log.first.get("a")).toBe("missing");
    expect(log.verified.get("a")).toBe("poll");
    expect(verifier.size).toBe(0);
  });

  it("a heal that finds the id already there verifies it", async () => {
    const { verifier, log } = setup();
    verifier.add(entry("a"));
    script.set("a", [{ status: 200, readded: false }]);
    expect(await verifier.check(ROOM, [], 20_000, 50)).toBe(false);
    expect(log.verified.get("a")).toBe("heal");
    expect(verifier.size).toBe(0);
  });

  it("retries after no answer or a 5xx with doubling backoff, and not before it is due", async () => {
    const { verifier, clock, log } = setup();
    verifier.add(entry("a"));
    script.set("a", ["drop", { status: 503 }, { status: 500 }, { status: 200, readded: false }]);

    await verifier.check(ROOM, [], clock.now, 50);
    expect(log.failed).toEqual([{ id: "a", waitMs: 500 }]);
    // Still inside the backoff: the poll finds it missing but makes no heal call.
    clock.now += 499;
    await verifier.check(ROOM, [], clock.now, 50);
    expect(healCalls).toEqual(["a"]);

    clock.now += 1;
    await verifier.check(ROOM, [], clock.now, 50);
    clock.now += 1_000;
    await verifier.check(ROOM, [], clock.now, 50);
    expect(log.failed.map((f) => f.waitMs)).toEqual([500, 1_000, 2_000]);
    expect(healCalls).toHaveLength(3);

    clock.now += 2_000;
    await verifier.check(ROOM, [], clock.now, 50);
    expect(healCalls).toHaveLength(4);
    expect(log.verified.get("a")).toBe("heal");
  });

  it("caps the backoff", async () => {
    const { verifier, clock, log } = setup();
    verifier.add(entry("a"));
    script.set(
      "a",
      Array.from({ length: 9 }, () => ({ status: 502 })),
    );
    for (let i = 0; i < 9; i++) {
      await verifier.check(ROOM, [], clock.now, 50);
      clock.now += MAX_HEAL_BACKOFF_MS;
    }
    expect(Math.max(...log.failed.map((f) => f.waitMs))).toBe(MAX_HEAL_BACKOFF_MS / 2);
    expect(log.failed.at(-1)!.waitMs).toBe(MAX_HEAL_BACKOFF_MS / 2);
  });

  it("a 429 pauses every heal for Retry-After", async () => {
    const { verifier, clock, log } = setup();
    verifier.add(entry("a"));
    script.set("a", [{ status: 429, retryAfter: 7 }]);
    await verifier.check(ROOM, [], clock.now, 50);
    expect(log.paused).toEqual([7_000]);

    verifier.add(entry("b"));
    clock.now += 6_999;
    await verifier.check(ROOM, [], clock.now, 50);
    expect(healCalls).toEqual(["a"]);
    clock.now += 1;
    await verifier.check(ROOM, [], clock.now, 50);
    expect(healCalls.slice(1).sort()).toEqual(["a", "b"]);
  });

  it.each([404, 409, 410])("a %i is the server's final answer: the checks of that id end", async (status) => {
    const { verifier, clock, log } = setup();
    verifier.add(entry("gone"));
    verifier.add(entry("kept"));
    script.set("gone", [{ status }]);
    script.set("kept", [{ status: 200, readded: true }]);
    await verifier.check(ROOM, [], clock.now, 50);
    expect(log.gaveUp).toEqual([{ id: "gone", reason: `scripted ${status}` }]);
    expect(verifier.pending().map((e) => e.id)).toEqual(["kept"]);

    clock.now += MAX_HEAL_BACKOFF_MS;
    await verifier.check(ROOM, [], clock.now, 50);
    expect(healCalls.filter((id) => id === "gone")).toHaveLength(1);
  });
});

describe("settle and rooms", () => {
  it("with settleMs, a list counts for an id only once requested that long after the acknowledgement", async () => {
    const { verifier, clock, log } = setup({ settleMs: 3_000 });
    verifier.add(entry("a", 9_000, clock.now));
    verifier.add({ id: "b", room: "other-room", createdAt: 9_000, ackedAt: clock.now });
    expect(verifier.dueRooms()).toEqual([]);
    expect(verifier.rooms().sort()).toEqual(["other-room", ROOM]);

    await verifier.check(ROOM, [], clock.now + 2_999, 50);
    expect(log.first.size).toBe(0);
    expect(healCalls).toEqual([]);

    clock.now += 3_000;
    expect(verifier.dueRooms().sort()).toEqual(["other-room", ROOM]);
    await verifier.check(ROOM, [message("a", 9_000)], clock.now, 50);
    expect(log.first.get("a")).toBe("in");
    expect(verifier.pending().map((e) => e.id)).toEqual(["b"]);
  });
});

describe("persistence hook", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "verifier-test-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("the bot's state file: pending ids outlive the verifier, and a new one keeps checking them", async () => {
    const file = join(dir, "state.json");
    const [id, replyTo] = ["1761938419272-bkf6kq2ca", "1761938419100-aaaaaaaaa"];
    const reply: PendingReply = { id, room: ROOM, replyTo, createdAt: 1_000, ackedAt: 2_000 };
    const first = new Verifier(BotPendingStore.load(file), { heal, now: () => 10_000 });
    first.add(reply);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({
      version: 1,
      pending: [{ id, room: ROOM, replyTo, createdAt: 1_000, addedAt: 2_000 }],
    });

    // A restart: a new store read from the file, a new verifier.
    const store = BotPendingStore.load(file);
    const verified: string[] = [];
    const second = new Verifier(store, { heal, now: () => 10_000, events: { onVerified: (e) => verified.push(e.id) } });
    expect(second.pending()).toEqual([reply]);
    await second.check(ROOM, [message(id, 1_000)], 10_000, 50);
    expect(verified).toEqual([id]);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ version: 1, pending: [] });
  });

  it("the page's localStorage list: another tab's verifier sees and verifies the same ids", async () => {
    const storage = new MemoryStorage();
    const page: PendingEntry = { ...entry("p1"), author: "ada", text: "hello" };
    new Verifier(new PagePendingStore(storage), { heal, now: () => 10_000 }).add(page);
    expect(JSON.parse(storage.getItem(PENDING_KEY)!)).toEqual([page]);

    const otherTab = new Verifier(new PagePendingStore(storage), { heal, now: () => 10_000 });
    expect(otherTab.seen(["p1"], "poll")).toBe(1);
    expect(storage.getItem(PENDING_KEY)).toBeNull();
  });
});

/** The part of the Web Storage API the page's list uses. */
class MemoryStorage implements Storage {
  private readonly items = new Map<string, string>();
  get length() {
    return this.items.size;
  }
  clear(): void {
    this.items.clear();
  }
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  key(index: number): string | null {
    return [...this.items.keys()][index] ?? null;
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
}
