// Starts a real `wrangler dev` (workerd, local KV and Durable Objects) on a free
// loopback port. Used by `npm start`, the Node-side tests, the race lab and the benchmarks.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const PROJECT_ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const WRANGLER = join(PROJECT_ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
/** Client keys of this machine, as `wrangler dev` reports them in cf-connecting-ip. */
const LOOPBACK = "127.0.0.1,::1";

export type LocalWorker = {
  url: string;
  adminToken: string;
  botToken: string;
  process: ChildProcess;
  /** wrangler's DevTools port (CDP), for profiling the Worker and its Durable Objects */
  inspectorPort: number;
  stop(): Promise<void>;
};

export type LocalWorkerOptions = {
  port?: number;
  /** Where local KV/DO state lives; default: a fresh temp dir removed on stop. */
  persistTo?: string;
  adminToken?: string;
  botToken?: string;
  /**
   * Extra `[vars]` overrides, e.g. { CACHE_MODE: "do" }. RATE_LIMIT_EXEMPT defaults to
   * loopback: tests, the lab and the benchmarks stand for many people from 127.0.0.1;
   * pass { RATE_LIMIT_EXEMPT: "" } to meet the post limit and socket caps as one person.
   */
  vars?: Record<string, string>;
  /** wrangler's log level: "info" prints a line per request (npm start --verbose). */
  logLevel?: "warn" | "info";
  /** Echo wrangler's output (npm start does; tests keep it for failures). */
  inheritOutput?: boolean;
  startTimeoutMs?: number;
  /** Another wrangler config (passed as `-c`), e.g. the bench's reference room; default wrangler.toml. */
  config?: string;
};

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * Tokens of workers started without any: random, nothing anyone could guess, and the same for
 * every worker this process starts, so a worker restarted on the same state keeps its clients.
 */
const DEFAULT_TOKENS = { admin: randomBytes(24).toString("base64url"), bot: randomBytes(24).toString("base64url") };

export async function startLocalWorker(options: LocalWorkerOptions = {}): Promise<LocalWorker> {
  const port = options.port ?? (await freePort());
  const inspectorPort = await freePort();
  const ownsState = !options.persistTo;
  const persistTo = options.persistTo ?? mkdtempSync(join(tmpdir(), "lossless-chat-"));
  const adminToken = options.adminToken ?? DEFAULT_TOKENS.admin;
  const botToken = options.botToken ?? DEFAULT_TOKENS.bot;
  // Stats go to the local store: Analytics Engine has no local simulator to read back from.
  const vars = {
    ADMIN_TOKEN: adminToken,
    BOT_TOKEN: botToken,
    RATE_LIMIT_EXEMPT: LOOPBACK,
    STATS_STORE: "local",
    ...options.vars,
  };
  // Tokens go through a private env file, never the command line, where `ps` would show them.
  const varsDir = mkdtempSync(join(tmpdir(), "lossless-chat-vars-"));
  const envFile = join(varsDir, ".env");
  writeFileSync(
    envFile,
    Object.entries(vars)
      .map(([key, value]) => `${key}=${JSON.stringify(value)}\n`)
      .join(""),
    { mode: 0o600 },
  );
  const args = [
    WRANGLER,
    "dev",
    ...(options.config ? ["-c", options.config] : []),
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    String(inspectorPort),
    "--persist-to",
    persistTo,
    "--show-interactive-dev-session=false",
    // Warnings and errors unless asked: request lines (the bot polls every 3 s) would
    // bury the URL and the bot's own lines.
    "--log-level",
    options.logLevel ?? "warn",
    "--env-file",
    envFile,
  ];
  const child = spawn(process.execPath, args, {
    cwd: PROJECT_ROOT,
    stdio: options.inheritOutput ? "inherit" : ["ignore", "pipe", "pipe"],
    // Its own process group, so stop() (and our exit) ends wrangler and workerd together.
    detached: true,
    // Offline machine: skip the Request.cf download (it only fails and warns).
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: "false",
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      CI: process.env.CI ?? "1",
    },
  });
  let output = "";
  child.stdout?.on("data", (chunk) => (output = (output + chunk).slice(-20_000)));
  child.stderr?.on("data", (chunk) => (output = (output + chunk).slice(-20_000)));

  const url = `http://127.0.0.1:${port}`;
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      // the group is already gone
    }
  };
  // A test runner that dies or forgets stop() must not leave wrangler or workerd behind.
  const onExit = () => killGroup("SIGKILL");
  process.once("exit", onExit);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      killGroup("SIGTERM");
      const timer = setTimeout(() => killGroup("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    // workerd may outlive wrangler by a moment; nothing of the group may stay, and its files
    // (the state's SQLite) are only free once it is gone: wait for that, not just the signal.
    killGroup("SIGKILL");
    await groupGone(child.pid);
    process.off("exit", onExit);
    rmSync(varsDir, { recursive: true, force: true });
    if (ownsState) rmSync(persistTo, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 90_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`wrangler dev exited with ${child.exitCode}:\n${output}`);
    }
    try {
      const res = await fetch(`${url}/api/health`);
      if (res.ok) return { url, adminToken, botToken, process: child, inspectorPort, stop };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(`wrangler dev did not answer ${url}/api/health in time:\n${output}`);
}

/** Resolves once no process of the group is left (kill(-pid, 0) fails), or after 5 s. */
async function groupGone(pid: number | undefined): Promise<void> {
  if (!pid) return;
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    try {
      process.kill(-pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
