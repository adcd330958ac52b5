// No token anyone could guess: the example file holds none, `npm start` writes fresh random
// ones into a file only its owner reads, and the scripts and test configs hold no literal token.
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ensureDevVars, parseDevVars } from "../../scripts/dev-vars";
import { PROJECT_ROOT } from "../../scripts/local-worker";

const dir = mkdtempSync(join(tmpdir(), "lossless-chat-secrets-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("tokens", () => {
  it(".dev.vars.example holds no token values", () => {
    const vars = parseDevVars(readFileSync(join(PROJECT_ROOT, ".dev.vars.example"), "utf8"));
    expect(vars).toMatchObject({ ADMIN_TOKEN: "", BOT_TOKEN: "" });
  });

  it("npm start writes fresh random tokens to a file only its owner can read, and keeps them", () => {
    const a = join(dir, "a.vars");
    const b = join(dir, "b.vars");
    const first = ensureDevVars(a);
    const other = ensureDevVars(b);
    for (const vars of [first, other]) {
      expect(vars.ADMIN_TOKEN).toMatch(/^[A-Za-z0-9_-]{32,}$/);
      expect(vars.BOT_TOKEN).toMatch(/^[A-Za-z0-9_-]{32,}$/);
      expect(vars.ADMIN_TOKEN).not.toBe(vars.BOT_TOKEN);
    }
    expect(other.ADMIN_TOKEN).not.toBe(first.ADMIN_TOKEN);
    expect(statSync(a).mode & 0o077).toBe(0);
    expect(ensureDevVars(a)).toEqual(first);
  });

  it("no script or test config sets a literal token", () => {
    for (const file of ["scripts/local-worker.ts", "scripts/start.ts", "vitest.config.ts", "wrangler.toml"]) {
      const text = readFileSync(join(PROJECT_ROOT, file), "utf8");
      expect(text, file).not.toMatch(/(ADMIN_TOKEN|BOT_TOKEN|adminToken|botToken)\s*[:=?]+\s*["'][^"']+["']/);
      expect(text, file).not.toMatch(/change-me|local-(admin|bot)-token|test-(admin|bot)-token/);
    }
  });
});
