// The Worker's flag cache: one KV read per FLAG_CACHE_MS per isolate, also while many requests
// arrive during the read; a read that hangs or fails does not keep the flag stale for long.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { FLAG_CACHE_MS, FLAG_READ_TIMEOUT_MS, loadFlags } from "../../src/worker/flag-cache";
import { FLAGS_KEY } from "../../src/shared/keys";
import type { FlagsDocument } from "../../src/shared/flags";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function flagsOf(version: number): FlagsDocument {
  return { defaultMode: "do", doPercent: 0, rooms: {}, version, updatedAt: Date.now(), updatedBy: "test" };
}

/** The real KV, whose reads are counted and wait for `open` (or fail, or never end). */
function heldKv() {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const kv = {
    reads: 0,
    fail: false,
    get: (...args: Parameters<KVNamespace["get"]>) => {
      kv.reads++;
      if (kv.fail) return Promise.reject(new Error("KV read failed (injected)"));
      return gate.then(() => (env.CHAT_KV.get as (...a: unknown[]) => Promise<unknown>)(...args));
    },
  };
  return { kv, open: release, env: { ...env, CHAT_KV: kv as unknown as KVNamespace } };
}

/** Another isolate publishes flag `version`; this isolate's copy expires. */
async function publishedElsewhere(version: number): Promise<void> {
  await env.CHAT_KV.put(FLAGS_KEY, JSON.stringify(flagsOf(version)));
  await sleep(FLAG_CACHE_MS + 50);
}

/** The next request reads the flag (once) and gets `version`. */
async function nextReadGets(version: number): Promise<void> {
  const next = heldKv();
  next.open();
  expect((await loadFlags(next.env)).version).toBe(version);
  expect(next.kv.reads).toBe(1);
}

describe("flag cache", () => {
  it("reads an expired flag once: requests arriving during the read go on with the one they have", async () => {
    await env.CHAT_KV.put(FLAGS_KEY, JSON.stringify(flagsOf(1)));
    expect((await loadFlags(env)).version).toBe(1);
    await publishedElsewhere(2);

    const held = heldKv();
    const reader = loadFlags(held.env);
    const meanwhile = await Promise.all(Array.from({ length: 5 }, () => loadFlags(held.env)));
    expect(meanwhile.map((f) => f.version)).toEqual([1, 1, 1, 1, 1]);
    expect(held.kv.reads).toBe(1);

    held.open();
    expect((await reader).version).toBe(2);
    expect((await loadFlags(held.env)).version).toBe(2);
    expect(held.kv.reads).toBe(1);
  });

  it("a read that never ends holds the others back for FLAG_READ_TIMEOUT_MS at most", async () => {
    await publishedElsewhere(3);
    const hung = heldKv();
    void loadFlags(hung.env); // its request was cancelled: the gate never opens
    expect((await loadFlags(hung.env)).version).toBe(2);
    expect(hung.kv.reads).toBe(1);

    await sleep(FLAG_READ_TIMEOUT_MS + 50);
    await nextReadGets(3);
  });

  it("a failed read fails its own request only, and the next request reads again", async () => {
    await publishedElsewhere(4);
    const failing = heldKv();
    failing.kv.fail = true;
    await expect(loadFlags(failing.env)).rejects.toThrow("injected");
    await nextReadGets(4);
  });
});
