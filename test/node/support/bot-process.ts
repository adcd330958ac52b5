// A bot as its own process (`node --import tsx bot/main.ts`, not the tsx CLI, which runs
// the script in a child), so a kill hits the bot itself; its output is collected.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { PROJECT_ROOT, type LocalWorker } from "../../../scripts/local-worker";
import { tempStateFile } from "./bot-harness";

export type BotProcess = { child: ChildProcess; output(): string };

export function spawnBotProcess(worker: LocalWorker, env: Record<string, string>): BotProcess {
  const child = spawn(process.execPath, ["--import", "tsx", join(PROJECT_ROOT, "bot", "main.ts")], {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      CHAT_API_URL: worker.url,
      BOT_TOKEN: worker.botToken,
      BOT_POLL_MS: "100",
      BOT_STATE_FILE: tempStateFile(),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const collect = (chunk: Buffer) => (output += chunk.toString());
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  return { child, output: () => output };
}

/** Kills the process (if it still runs) and waits until it is gone. */
export async function killBotProcess({ child }: BotProcess, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill(signal);
  await exited;
}
