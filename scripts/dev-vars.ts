// Local secrets in .dev.vars (git-ignored): `npm start` creates them, wrangler dev
// and the bot read them, so a fresh checkout runs without any setup.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const DEV_VARS = join(fileURLToPath(new URL("..", import.meta.url)), ".dev.vars");

/** Reads .dev.vars, writing it with fresh random tokens first if it does not exist. */
export function ensureDevVars(path = DEV_VARS): Record<string, string> {
  if (!existsSync(path)) {
    const token = () => randomBytes(24).toString("base64url");
    writeFileSync(
      path,
      `# Local secrets for wrangler dev (git-ignored).\nADMIN_TOKEN=${token()}\nBOT_TOKEN=${token()}\n`,
      { mode: 0o600 },
    );
    console.log(`Wrote local secrets ADMIN_TOKEN and BOT_TOKEN to ${path}`);
  }
  return parseDevVars(readFileSync(path, "utf8"));
}

/** Reads .dev.vars if it exists; never creates it. */
export function readDevVars(path = DEV_VARS): Record<string, string> {
  return existsSync(path) ? parseDevVars(readFileSync(path, "utf8")) : {};
}

/** `KEY=value` lines (optionally quoted); comments and blank lines are skipped. */
export function parseDevVars(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = /^\s*([A-Z0-9_]+)\s*=\s*"?(.*?)"?\s*$/.exec(line);
    if (match) vars[match[1]!] = match[2]!;
  }
  return vars;
}
