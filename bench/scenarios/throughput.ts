// Acknowledged writes per second to one room, kv vs do, with `GET /api/health` (a
// request that touches no storage) measured in the same run as the runtime's ceiling.
// Two reads are measured as references for where a write's time goes.
import { ChatClient } from "../lib/api";
import { closedLoop, type LoadResult } from "../lib/load";
import { treeCpuMs } from "../lib/proc-cpu";
import { ratio, round } from "../lib/stats";

export type ThroughputResult = {
  concurrency: number;
  durationMs: number;
  /** serverCpuMsPerRequest: CPU of wrangler dev and workerd per answered request (Linux), warm-up excluded */
  scenarios: { name: string; what: string; result: LoadResult; serverCpuMsPerRequest: number | null }[];
  ratios: { doOverNoop: number | null; doOverKv: number | null };
};

export async function throughputBench(
  url: string,
  adminToken: string,
  options: { concurrency: number; durationMs: number; runTag: string; serverPid?: number },
  log: (line: string) => void,
): Promise<ThroughputResult> {
  const admin = new ChatClient(url, { admin: adminToken });
  const kvRoom = `bench-${options.runTag}-write-kv`;
  const doRoom = `bench-${options.runTag}-write-do`;
  await admin.setRoomMode(kvRoom, "kv");
  await admin.setRoomMode(doRoom, "do");
  const probe = await admin.post(doRoom, "a message to read back", "bench");
  const json = { "content-type": "application/json" };
  let n = 0;
  const write = (room: string) => () =>
    fetch(`${url}/api/comments`, { method: "POST", headers: json, body: JSON.stringify({ room, text: `bench write ${++n}`, author: "bench" }) });

  const plan: { name: string; what: string; call: () => Promise<Response> }[] = [
    { name: "no-op", what: "GET /api/health: no storage, the runtime's ceiling", call: () => fetch(`${url}/api/health`) },
    { name: "kv record read", what: "GET /api/comments/:id: one KV read (reference)", call: () => fetch(`${url}/api/comments/${probe.id}`) },
    { name: "do read (limit 1)", what: "GET /api/comments?limit=1 in a do room: flag read + one Room DO call (reference)", call: () => fetch(`${url}/api/comments?room=${doRoom}&limit=1`) },
    { name: "kv write", what: "POST /api/comments, kv room: record put + racy read-modify-write of cache:<room>", call: write(kvRoom) },
    { name: "do write", what: "POST /api/comments, do room: record put + Room DO append", call: write(doRoom) },
  ];
  const scenarios: ThroughputResult["scenarios"] = [];
  for (const step of plan) {
    await closedLoop(step.call, { concurrency: options.concurrency, durationMs: 1_000 });
    const cpuBefore = treeCpuMs(options.serverPid);
    const result = await closedLoop(step.call, { concurrency: options.concurrency, durationMs: options.durationMs });
    const cpuAfter = treeCpuMs(options.serverPid);
    const cpu = cpuBefore === null || cpuAfter === null || result.ok === 0 ? null : round((cpuAfter - cpuBefore) / result.ok, 2);
    log(
      `  ${step.name.padEnd(18)} ${result.perSecond.toFixed(0).padStart(6)} /s   p50 ${result.latencyMs.p50.toFixed(1)} ms   p99 ${result.latencyMs.p99.toFixed(1)} ms` +
        `${cpu === null ? "" : `   server CPU ${cpu} ms/request`}${result.errors ? `   ${result.errors} errors (${result.firstError})` : ""}`,
    );
    scenarios.push({ name: step.name, what: step.what, result, serverCpuMsPerRequest: cpu });
  }
  const rate = (name: string) => scenarios.find((s) => s.name === name)!.result.perSecond;
  return {
    concurrency: options.concurrency,
    durationMs: options.durationMs,
    scenarios,
    ratios: { doOverNoop: round(ratio(rate("do write"), rate("no-op")), 3), doOverKv: round(ratio(rate("do write"), rate("kv write")), 3) },
  };
}
