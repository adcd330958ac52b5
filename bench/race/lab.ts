// The race lab: every requested mode and tab count, each round in a fresh room.
import { ChatClient } from "../lib/api";
import type { Target } from "../lib/target";
import { defaultDeadlineMs, type RaceOptions } from "./options";
import type { RaceReport, RoundResult } from "./report-schema";
import { roomName, runRound } from "./round";
import { summarizeRounds } from "./summary";

export async function runLab(
  options: RaceOptions,
  target: Target,
  log: (line: string) => void,
  command = "npm run race",
): Promise<RaceReport> {
  const runTag = Date.now().toString(36);
  const rounds: RoundResult[] = [];
  const rooms: string[] = [];
  try {
    for (const tabs of options.tabs) {
      for (const mode of options.modes) {
        for (let round = 1; round <= options.rounds; round++) {
          rooms.push(roomName({ mode, tabs, round, runTag }));
          rounds.push(
            await runRound({
              url: target.url,
              adminToken: target.adminToken,
              botToken: target.botToken,
              mode,
              tabs,
              round,
              pollMs: options.pollMs,
              bot: options.bot,
              bots: options.bots,
              push: options.push,
              deadlineMs: options.deadlineMs ?? defaultDeadlineMs(options.pollMs, tabs),
              runTag,
              log,
            }),
          );
        }
      }
    }
  } finally {
    // A shared Worker keeps its flag tidy; a local one is thrown away anyway.
    if (!target.local && rooms.length)
      await new ChatClient(target.url, { admin: target.adminToken }).forgetRooms(rooms).catch(() => undefined);
  }
  return {
    kind: "race",
    generatedAt: new Date().toISOString(),
    command,
    target: { url: target.url, local: target.local },
    options: {
      tabs: options.tabs,
      modes: options.modes,
      rounds: options.rounds,
      pollMs: options.pollMs,
      bot: options.bot,
      bots: options.bots,
      push: options.push,
      deadlineMs: options.deadlineMs,
    },
    rounds,
    summaries: summarizeRounds(rounds),
    ok: rounds.every((r) => r.failures.length === 0),
  };
}
