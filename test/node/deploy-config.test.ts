// What a deployment relies on outside the code paths: wrangler.toml agreeing with the code,
// the bot's service files naming real settings and files, and secrets kept off command lines.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { unstable_readConfig } from "wrangler";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, SETTINGS, SWITCHES, parseCommandLine, resolveConfig } from "../../bot/config";
import { parseDevVars } from "../../scripts/dev-vars";
import { PROJECT_ROOT, startLocalWorker, type LocalWorker } from "../../scripts/local-worker";
import { RATE_LIMITS } from "../../src/shared/rate-limits";

const read = (path: string) => readFileSync(join(PROJECT_ROOT, path), "utf8");

describe("wrangler.toml and the code", () => {
  it("declares exactly the rate limits the code computes Retry-After from", () => {
    const config = unstable_readConfig({ config: join(PROJECT_ROOT, "wrangler.toml") });
    const declared = Object.fromEntries(
      config.ratelimits.map((r: { name: string; simple: unknown }) => [r.name, r.simple]),
    );
    expect(declared).toEqual(RATE_LIMITS);
    const ids = config.ratelimits.map((r: { namespace_id: string }) => r.namespace_id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe("the bot as a service", () => {
  const known = new Set([...SETTINGS.map((s) => s.env), ...SWITCHES.map((s) => s.env)]);

  it("bot.env.example names only settings the bot reads, and they resolve", () => {
    const env = parseDevVars(read("bot/bot.env.example"));
    expect(Object.keys(env).length).toBeGreaterThan(3);
    for (const name of Object.keys(env)) expect(known, name).toContain(name);
    const parsed = parseCommandLine([], env);
    if (parsed.help) throw new Error("unexpected --help");
    const config = resolveConfig(parsed.options);
    expect(config.token).toBe(env.BOT_TOKEN);
    expect(config.rooms).toBe("*");
    expect(config.requireOllama).toBe(true);
  });

  it("the unit runs the project's Node on bot/main.ts with the env file", () => {
    const unit = read("bot/lossless-chat-bot.service");
    const exec = /^ExecStart=\/opt\/lossless-chat\/(\S+) (\S+) (\S+)$/m.exec(unit);
    expect(exec).not.toBeNull();
    for (const path of exec!.slice(1)) expect(existsSync(join(PROJECT_ROOT, path)), path).toBe(true);
    expect(unit).toMatch(/^EnvironmentFile=\/etc\/lossless-chat\/bot\.env$/m);
    expect(unit).not.toMatch(/BOT_TOKEN=/);
  });

  it("refuses a token on the command line", () => {
    expect(() => parseCommandLine(["--token", "secret"], {})).toThrow(ConfigError);
  });
});

describe("a local worker's tokens", () => {
  let worker: LocalWorker;
  const adminToken = `argv-check-admin-${process.pid}`;
  const botToken = `argv-check-bot-${process.pid}`;
  beforeAll(async () => {
    worker = await startLocalWorker({ adminToken, botToken });
  });
  afterAll(async () => {
    await worker?.stop();
  });

  it("reach the Worker but no process's command line", async () => {
    const as = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
    const flags = (token: string) => fetch(`${worker.url}/api/admin/flags`, as(token));
    expect((await flags(adminToken)).status).toBe(200);
    expect((await flags("wrong")).status).toBe(401);
    const pending = await fetch(`${worker.url}/api/bot/pending?room=lobby`, as(botToken));
    expect(pending.status).toBe(200);

    const commandLines = readdirSync("/proc")
      .filter((entry) => /^\d+$/.test(entry))
      .map((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, "utf8");
        } catch {
          return ""; // gone meanwhile
        }
      });
    expect(commandLines.some((line) => line.includes("wrangler.js"))).toBe(true);
    expect(commandLines.filter((line) => line.includes(adminToken) || line.includes(botToken))).toEqual([]);
  });
});
