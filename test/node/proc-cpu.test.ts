// "Server CPU" in the benchmarks is the Worker's runtime only: the workerd processes under
// `wrangler dev`, not wrangler's Node process or its esbuild watcher, which serve no request.
import { spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalWorker, type LocalWorker } from "../../scripts/local-worker";
import { runtimeCpuMs } from "../../bench/lib/proc-cpu";

type Proc = { pid: number; ppid: number; command: string; cpuMs: number };

function processes(): Proc[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .flatMap((pid) => {
      try {
        const text = readFileSync(`/proc/${pid}/stat`, "utf8");
        const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
        const command = text.slice(text.indexOf("(") + 1, text.lastIndexOf(")"));
        return [
          { pid: Number(pid), ppid: Number(fields[1]), command, cpuMs: (Number(fields[11]) + Number(fields[12])) * 10 },
        ];
      } catch {
        return [];
      }
    });
}

function descendants(root: number): Proc[] {
  const all = processes();
  const out: Proc[] = [];
  for (let frontier = [root]; frontier.length;) {
    const children = all.filter((p) => frontier.includes(p.ppid));
    out.push(...children);
    frontier = children.map((p) => p.pid);
  }
  return out;
}

describe("server CPU counts the runtime only", () => {
  let worker: LocalWorker;
  beforeAll(async () => {
    worker = await startLocalWorker({});
  }, 60_000);
  afterAll(() => worker?.stop());

  it("is the workerd processes' CPU, without wrangler's Node process and esbuild", async () => {
    for (let i = 0; i < 50; i++) await (await fetch(`${worker.url}/api/comments?room=cpu-count`)).arrayBuffer();
    const tree = descendants(worker.process.pid!);
    const commands = new Set(tree.map((p) => p.command));
    expect(commands).toContain("workerd");
    expect([...commands].some((c) => c !== "workerd")).toBe(true);
    const runtime = tree.filter((p) => p.command === "workerd").reduce((ms, p) => ms + p.cpuMs, 0);
    expect(runtime).toBeGreaterThan(0);
    // Read moments apart: the runtime idles between them (a tick is 10 ms).
    expect(Math.abs(runtimeCpuMs(worker.process.pid)! - runtime)).toBeLessThanOrEqual(20);
    const everything = [worker.process.pid!, ...tree.map((p) => p.pid)];
    const all = processes().filter((p) => everything.includes(p.pid));
    expect(all.reduce((ms, p) => ms + p.cpuMs, 0)).toBeGreaterThan(runtime);
  }, 60_000);

  it("leaves out a busy process that is not workerd", async () => {
    // Burns CPU for a while, then idles until killed: a stand-in for a bundler's watcher.
    const child = spawn(process.execPath, [
      "-e",
      "const t = Date.now(); while (Date.now() - t < 300); setInterval(() => {}, 1e3)",
    ]);
    try {
      await new Promise((resolve) => setTimeout(resolve, 800));
      const own = processes().find((p) => p.pid === child.pid);
      expect(own?.cpuMs).toBeGreaterThanOrEqual(100);
      expect(runtimeCpuMs(child.pid)).toBe(0);
    } finally {
      child.kill();
    }
  });
});
