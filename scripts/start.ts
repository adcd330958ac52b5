// `npm start`: the Worker (wrangler dev on 127.0.0.1:8787, local KV and DOs under
// .wrangler/state). Writes .dev.vars with random tokens on first run.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT, startLocalWorker } from "./local-worker";

const DEV_VARS = join(PROJECT_ROOT, ".dev.vars");

export function ensureDevVars(): Record<string, string> {
  if (!existsSync(DEV_VARS)) {
    const token = () => randomBytes(24).toString("base64url");
    writeFileSync(DEV_VARS, `# Local secrets for wrangler dev (git-ignored).\nADMIN_TOKEN=${token()}\nBOT_TOKEN=${token()}\n`, { mode: 0o600 });
    console.log(`Wrote local secrets ADMIN_TOKEN and BOT_TOKEN to ${DEV_VARS}`);
  }
  return parseDevVars(readFileSync(DEV_VARS, "utf8"));
}

export function parseDevVars(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = /^\s*([A-Z0-9_]+)\s*=\s*"?(.*?)"?\s*$/.exec(line);
    if (match) vars[match[1]!] = match[2]!;
  }
  return vars;
}

async function main(): Promise<void> {
  const vars = ensureDevVars();
  const port = Number(process.env.PORT ?? 8787);
  const worker = await startLocalWorker({
    port,
    persistTo: join(PROJECT_ROOT, ".wrangler", "state"),
    adminToken: vars.ADMIN_TOKEN,
    botToken: vars.BOT_TOKEN,
    inheritOutput: true,
  });
  console.log(`\nlossless-chat is running: ${worker.url}/  (operator page: ${worker.url}/admin, tokens in .dev.vars)\n`);
  const shutdown = async () => {
    await worker.stop();
    process.exit(0);
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
