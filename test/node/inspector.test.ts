// The heap bench reads a local Worker's isolate over wrangler's inspector: a session opens,
// the sampling heap profiler counts what requests allocate, and the bundle's source map names
// the project's own files.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalWorker, type LocalWorker } from "../../scripts/local-worker";
import {
  allocationSites,
  bundleSources,
  openInspector,
  sampleHeap,
  totalBytes,
  type Inspector,
} from "../../bench/lib/inspector";

describe("the inspector session the heap bench uses", () => {
  let worker: LocalWorker;
  let inspector: Inspector;
  beforeAll(async () => {
    worker = await startLocalWorker({});
    inspector = await openInspector(worker.inspectorPort);
  }, 60_000);
  afterAll(async () => {
    inspector?.close();
    await worker?.stop();
  });

  const post = (i: number) =>
    fetch(`${worker.url}/api/comments`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ room: "heap-sampled", text: `message ${i}` }),
    }).then((res) => (expect(res.status).toBe(201), res.arrayBuffer()));

  it("counts what the Worker allocates, by the project's source files", async () => {
    const quiet = await sampleHeap(inspector, 512, () => new Promise((resolve) => setTimeout(resolve, 200)));
    const busy = await sampleHeap(inspector, 512, async () => {
      for (let i = 0; i < 40; i++) await post(i);
    });
    expect(totalBytes(busy)).toBeGreaterThan(totalBytes(quiet) + 40 * 1024);
    const sites = allocationSites([busy], 40, bundleSources(), 20);
    expect(sites).toHaveLength(21);
    expect(sites.at(-1)!.at).toBe("everything else");
    // Sorted, largest first, and some of them in the Worker's own code (mapped from the bundle).
    const bytes = sites.slice(0, -1).map((s) => s.bytesPerMessage);
    expect(bytes).toEqual([...bytes].sort((a, b) => b - a));
    expect(sites.some((s) => s.at.startsWith("src/"))).toBe(true);
    expect(sites.every((s) => !s.at.startsWith("index.js"))).toBe(true);
  }, 60_000);

  it("answers a method the isolate does not know with its error", async () => {
    await expect(inspector.call("HeapProfiler.noSuchMethod")).rejects.toThrow(/HeapProfiler.noSuchMethod/);
  });
});
