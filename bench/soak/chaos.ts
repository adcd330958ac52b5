// When the soak kills what: the Worker (SIGKILL, restart on the same state; every other
// time while a flip's calls are on their way) and the bots (SIGKILL mid-generation,
// restart), spread over the posting phase, one at a time so a bot kill never lands
// while the Worker is down (a bot then generates nothing).
import { jitter, now, sleep } from "../lib/time";
import type { SoakBots } from "./bots";
import type { Flipper } from "./flipper";
import type { SoakServer } from "./server";

export type ChaosEvent = { at: number; kind: "server" | "bot"; midFlip?: boolean };

/**
 * `count` moments evenly spread over [from, to) of `durationMs`, each jittered within
 * a quarter of the spacing, so kills never come in a fixed rhythm nor pile up.
 */
function spread(count: number, durationMs: number, from: number, to: number): number[] {
  const spacing = ((to - from) * durationMs) / Math.max(1, count);
  return Array.from(
    { length: count },
    (_, i) => from * durationMs + (i + 0.5) * spacing + (Math.random() - 0.5) * (spacing / 2),
  );
}

/** Server kills over 10–85 % of the phase, bot kills over 15–90 %: interleaved, none in the first seconds. */
export function planChaos(durationMs: number, serverKills: number, botKills: number): ChaosEvent[] {
  return [
    ...spread(serverKills, durationMs, 0.1, 0.85).map((at, i): ChaosEvent => ({
      at,
      kind: "server",
      midFlip: i % 2 === 1,
    })),
    ...spread(botKills, durationMs, 0.15, 0.9).map((at): ChaosEvent => ({ at, kind: "bot" })),
  ].sort((a, b) => a.at - b.at);
}

/** Runs the plan from `start` (a now() time) until it is done or `signal` aborts. */
export async function runChaos(
  plan: ChaosEvent[],
  start: number,
  targets: { server: SoakServer; bots: SoakBots | null; flipper: Flipper | null },
  signal: AbortSignal,
  log: (line: string) => void,
): Promise<void> {
  const clock = (at: number) => `${((at - start) / 1000).toFixed(1)} s`;
  for (const event of plan) {
    await sleep(start + event.at - now(), signal);
    if (signal.aborted) return;
    if (event.kind === "server") {
      if (event.midFlip && targets.flipper) {
        // Into the flip's calls (the flag read, then the PUT that flushes the leaving room): somewhere in there.
        await Promise.race([targets.flipper.nextFlip(), sleep(60_000, signal)]);
        await sleep(jitter(2, 30));
      }
      const kill = await targets.server.crashAndRestart(targets.flipper?.inFlight ?? false);
      const during = kill.duringFlip ? ", a flip's calls in flight" : "";
      log(
        `  ${clock(kill.at)}: Worker killed (SIGKILL to its process group${during}), up again after ${(kill.downMs / 1000).toFixed(1)} s on the same port and state`,
      );
    } else if (targets.bots) {
      await targets.server.whenUp();
      const kill = await targets.bots.killMidGeneration(30_000);
      const where = kill.midGeneration
        ? `${kill.intoGenerationMs} ms into generating a reply to ${kill.generatingFor}`
        : "not generating (none started within 30 s)";
      log(`  ${clock(kill.at)}: ${kill.botId} killed (SIGKILL) ${where}; restarted`);
    }
  }
}
