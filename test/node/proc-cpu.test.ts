// "Server CPU" in the benchmarks is the Worker's runtime only: the workerd processes under
// `wrangler dev`, not wrangler's Node process or its esbuild watcher, which serve no request.
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalWorker, type LocalWorker } from "../../scripts/local-worker";
import { processTree, runtimeCpuMs } from "../../bench/lib/proc-cpu";

describe("server CPU counts the runtime only", () => {
  let worker: LocalWorker;
  beforeAll(async () => {
    worker = await startLocalWorker({});
  }, 60_000);
  afterAll(() => worker?.stop());

  it("is the workerd processes' CPU, without wrangler's Node process and esbuild", async () => {
    for (let i = 0; i < 50; i++) await (await fetch(`${worker.url}/api/comments?room=cpu-count`)).arrayBuffer();
    const [wrangler, ...tree] = processTree(worker.process.pid)!;
    expect(wrangler!.pid).toBe(worker.process.pid);
    const commands = new Set(tree.map((p) => p.command));
    expect(commands).toContain("workerd");
    expect([...commands].some((c) => c !== "workerd")).toBe(true);
    const runtime = tree.filter((p) => p.command === "workerd").reduce((ms, p) => ms + p.cpuMs, 0);
    expect(runtime).toBeGreaterThan(0);
    // Read moments apart: the runtime idles between them (a tick is 10 ms).
    expect(Math.abs(runtimeCpuMs(worker.process.pid)! - runtime)).toBeLessThanOrEqual(20);
    expect([wrangler!, ...tree].reduce((ms, p) => ms + p.cpuMs, 0)).toBeGreaterThan(runtime);
  }, 60_000);

  it("leaves out a busy process that is not workerd", async () => {
    // Burns CPU for a while, then idles until killed: a stand-in for a bundler's watcher.
    const child = spawn(process.execPath, [
      "-e",
      "const t = Date.now(); while (Date.now() - t < 300); setInterval(() => {}, 1e3)",
    ]);
    try {
      await new Promise((resolve) => setTimeout(resolve, 800));
      const [own] = processTree(child.pid)!;
      expect(own).toMatchObject({ pid: child.pid, command: "node" });
      expect(own!.cpuMs).toBeGreaterThanOrEqual(100);
      expect(runtimeCpuMs(child.pid)).toBe(0);
    } finally {
      child.kill();
    }
  });
});
