// The flood scenario's table and targets: a real room's tail latency quiet, flooded and quiet
// again, what the flood offered and got back, and what it cost the machine.
import { fmt, markdownTable, pct, type TargetCheck } from "../lib/table";
import { COST_IN_FLIGHT, type FloodResult, type RealRoomPhase } from "./flood";

type Kind = "reads" | "messages";
const p99 = (p: RealRoomPhase, kind: Kind) => (kind === "reads" ? p.reads.p99 : p.messages.latencyMs.p99);
const p50 = (p: RealRoomPhase, kind: Kind) => (kind === "reads" ? p.reads.p50 : p.messages.latencyMs.p50);

/** The quiet p99 a flooded p99 is held to: the higher of the two quiet phases (their spread is the machine's). */
function quietP99(f: FloodResult, kind: Kind): number | null {
  const [a, b] = [p99(f.quietBefore, kind), p99(f.quietAfter, kind)];
  return a === null || b === null ? null : Math.max(a, b);
}

/** Requests of the phase that got no answer within the grace time, or were not sent on time: "132 of 560 reads". */
function unanswered(p: RealRoomPhase, kind: Kind): string {
  if (kind === "reads") return `${p.reads.scheduled - p.reads.ok} of ${p.reads.scheduled} reads`;
  return `${p.messages.missing} of ${p.messages.latencyMs.count} message arrivals`;
}

const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b);

export function floodTargets(f: FloodResult): TargetCheck[] {
  const latency = (kind: Kind, what: string): TargetCheck => {
    const quiet = quietP99(f, kind);
    const flooded = p99(f.flooded, kind);
    const floodedText =
      flooded === null
        ? `past the grace time (${unanswered(f.flooded, kind)} unanswered in time)`
        : `${fmt(flooded)} ms`;
    return {
      name: `flood: real room ${what} p99`,
      target:
        `real room ${what} p99 during a ${f.options.ratePerSecond.toLocaleString("en")} req/s random-room flood ` +
        `≤ its quiet p99 (the higher of the two quiet phases)`,
      measured:
        `flooded ${floodedText}; ` +
        `quiet ${fmt(p99(f.quietBefore, kind))} ms before, ${fmt(p99(f.quietAfter, kind))} ms after; ` +
        `flooded / quiet ${fmt(ratio(flooded, quiet), 2)} ×`,
      met: quiet === null ? null : flooded !== null && flooded <= quiet,
    };
  };
  return [
    latency("reads", "read"),
    latency("messages", "socket message"),
    {
      name: "flood: shared objects",
      target: "a flood of never-written rooms calls neither the Control object nor a registry shard",
      measured:
        `${f.controlCalls} Control calls, ${f.registryCalls} registry calls during the flood; ` +
        `${f.floodRoomsListed} flood rooms listed afterwards`,
      met: f.controlCalls === 0 && f.registryCalls === 0 && f.floodRoomsListed === 0,
    },
  ];
}

export function floodTable(f: FloodResult): string {
  const g = f.flood;
  const o = f.options;
  const row = (name: string, p: RealRoomPhase) => [
    name,
    `${p.reads.ok}/${p.reads.scheduled}`,
    fmt(p50(p, "reads")),
    fmt(p99(p, "reads")),
    `${p.messages.latencyMs.count - p.messages.missing}/${p.messages.latencyMs.count}`,
    fmt(p50(p, "messages")),
    fmt(p99(p, "messages")),
    fmt(p.serverCpuMsPerSecond, 0),
  ];
  const sent = g.reads.sent + g.sockets.sent;
  return (
    `**A flood of random room names** (the real do room: ${o.realReadsPerSecond} reads/s of its last 50 messages ` +
    `and ${o.realMessagesPerSecond} socket messages/s seen at 2 listening sockets, ` +
    `offered on schedule from 127.0.0.1; the flood: ${o.ratePerSecond.toLocaleString("en")} requests/s ` +
    `of never-written rooms for ${o.durationMs / 1000} s, ` +
    `one in ${o.socketEvery} a socket upgrade, from ${o.addresses} addresses, ` +
    `at most ${o.inFlightPerAddress} in flight per address)\n\n` +
    markdownTable(
      [
        "phase",
        "reads answered",
        "read p50 ms",
        "read p99 ms",
        "messages seen",
        "message p50 ms",
        "message p99 ms",
        "server CPU ms/s",
      ],
      [row("quiet before", f.quietBefore), row("flooded", f.flooded), row("quiet after", f.quietAfter)],
      ["left", "right", "right", "right", "right", "right", "right", "right"],
    ) +
    `\n\n` +
    markdownTable(
      ["the flood", "value"],
      [
        ["offered", `${g.offered} (${g.offeredPerSecond}/s)`],
        [
          "sent on time",
          `${sent} (${pct(sent, g.offered)}); ` +
            `not sent on time (its address's connections all busy): ${g.notSentOnTime}`,
        ],
        ["answered", `${g.answeredPerSecond}/s`],
        [
          "reads",
          `${g.reads.sent} sent: ${g.reads.ok} × 200, ${g.reads.refused} × 429 (the read limit), ` +
            `${g.reads.other} other, ${g.reads.errors} unanswered`,
        ],
        [
          "socket upgrades",
          `${g.sockets.sent} sent: ${g.sockets.hello} said hello, ${g.sockets.refused} × 429, ` +
            `${g.sockets.other} other, ${g.sockets.errors} failed`,
        ],
        ["a flood request, scheduled → answered", `p50 ${fmt(g.answerMs.p50)} ms, p99 ${fmt(g.answerMs.p99)} ms`],
        ["generator send lag", `p50 ${fmt(g.sendLagMs.p50)} ms, p99 ${fmt(g.sendLagMs.p99)} ms`],
        ["generator CPU (this process)", `${fmt(g.generatorCpuMsPerSecond, 0)} ms/s`],
        ["server CPU (wrangler + workerd)", `${fmt(g.serverCpuMsPerSecond, 0)} ms/s`],
        ["Control / registry calls", `${f.controlCalls} / ${f.registryCalls}`],
      ],
      ["left", "left"],
    ) +
    `\n\nWhere a flood's time goes: each kind of request alone, ${COST_IN_FLIGHT} in flight ` +
    `for a few seconds, before the flood\n\n` +
    markdownTable(
      ["request", "requests/s", "answers", "server CPU ms/request", "state files (net) per request"],
      f.costs.map((c) => [
        c.kind,
        fmt(c.perSecond, 0),
        Object.entries(c.statuses)
          .map(([status, n]) => `${n} × ${status}`)
          .join(", "),
        fmt(c.serverCpuMsPerRequest, 2),
        fmt(c.stateFilesPerRequest, 2),
      ]),
      ["left", "right", "left", "right", "right"],
    ) +
    `\n\nCPU in ms per second: 1000 is one whole core of this machine's 2.`
  );
}
