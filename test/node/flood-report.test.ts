// The flood scenario's targets: a flooded p99 is held to the higher of the two quiet p99s, a p99
// that fell on an unanswered request never counts as met, and one call into a shared object fails.
import { describe, expect, it } from "vitest";
import { floodTargets } from "../../bench/scenarios/flood-report";
import type { FloodResult, RealRoomPhase } from "../../bench/scenarios/flood";
import type { OpenLoopResult, TailLatency } from "../../bench/lib/open-loop";

const tail = (p99: number | null): TailLatency => ({ count: 100, p50: 5, p99, p999: p99, max: p99 });

function phase(readP99: number | null, messageP99: number | null): RealRoomPhase {
  const messages: OpenLoopResult = {
    ratePerSecond: 10,
    scheduled: 50,
    acked: 50,
    nacks: 0,
    missing: messageP99 === null ? 2 : 0,
    latencyMs: tail(messageP99),
    lastListenerMs: tail(messageP99),
    sendLagMs: tail(1),
    serverCpuMsPerMessage: null,
    socketDrops: 0,
  };
  const ok = readP99 === null ? 90 : 100;
  return {
    seconds: 10,
    reads: { ...tail(readP99), scheduled: 100, ok, failed: 0, notSentOnTime: 0 },
    messages,
    serverCpuMsPerSecond: null,
  };
}

function result(phases: [RealRoomPhase, RealRoomPhase, RealRoomPhase], calls = { control: 0, registry: 0 }) {
  const [quietBefore, flooded, quietAfter] = phases;
  return {
    options: { ratePerSecond: 2_000 },
    quietBefore,
    flooded,
    quietAfter,
    controlCalls: calls.control,
    registryCalls: calls.registry,
    floodRoomsListed: 0,
  } as unknown as FloodResult;
}

const met = (f: FloodResult) => Object.fromEntries(floodTargets(f).map((c) => [c.name, c.met]));

describe("the flood's targets", () => {
  it("hold a flooded p99 to the higher of the two quiet phases", () => {
    const f = result([phase(20, 10), phase(35, 12), phase(40, 15)]);
    expect(met(f)).toEqual({
      "flood: real room read p99": true,
      "flood: real room socket message p99": true,
      "flood: shared objects": true,
    });
    const slower = result([phase(20, 10), phase(41, 16), phase(40, 15)]);
    expect(met(slower)).toMatchObject({
      "flood: real room read p99": false,
      "flood: real room socket message p99": false,
    });
  });

  it("count a p99 that fell on an unanswered request as not met, and say how many went unanswered", () => {
    const f = result([phase(20, 10), phase(null, null), phase(40, 15)]);
    expect(met(f)).toMatchObject({
      "flood: real room read p99": false,
      "flood: real room socket message p99": false,
    });
    expect(floodTargets(f)[0]!.measured).toContain("10 of 100 reads unanswered in time");
  });

  it("fail on any call into the Control object or a registry shard", () => {
    const quiet = [phase(20, 10), phase(20, 10), phase(20, 10)] as const;
    expect(met(result([...quiet], { control: 1, registry: 0 }))["flood: shared objects"]).toBe(false);
    expect(met(result([...quiet], { control: 0, registry: 1 }))["flood: shared objects"]).toBe(false);
  });
});
