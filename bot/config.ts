// The bot's settings: environment variables, each also a command-line flag (the flag wins).
import { hostname } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { ROOM_PATTERN } from "../src/shared/message";
import { readDevVars } from "../scripts/dev-vars";
import { THINK_SETTINGS, type ThinkSetting } from "./thinking";

const PROJECT_ROOT = fileURLToPath(new URL("..", import.meta.url));

export type Logger = (line: string) => void;

export type BotConfig = {
  apiUrl: string;
  token: string;
  /** Room names, or "*" for every room that may have work (GET /api/bot/rooms: one listing per poll). */
  rooms: string[] | "*";
  botId: string;
  /** Shown as the reply's author: a registered bot's name (GET /api/bot/me); else the model's label. */
  author?: string;
  ollamaHost: string;
  model: string;
  pollMs: number;
  /** How many recent room messages are sent to the model. */
  contextSize: number;
  /** The estimated tokens of context sent to the model at most (about 4 characters a token). */
  contextTokens: number;
  timeoutMs: number;
  maxAttempts: number;
  stateFile: string;
  systemPrompt?: string;
  /** thinking models: off (default) answers without thinking; on / low / medium / high thinks and shows it */
  think: ThinkSetting;
  /** pull a model the Ollama server does not have, with progress lines */
  pull: boolean;
  offline: boolean;
  requireOllama: boolean;
  log: Logger;
};

/** What startBot() accepts: anything left out takes its default. */
export type BotOptions = Partial<BotConfig>;

/** A setting without a flag is read from the environment only: a secret on the command line shows in `ps`. */
type Setting = { key: keyof BotConfig; env: string; flag?: string; help: string; fallback: string };

export const SETTINGS: readonly Setting[] = [
  {
    key: "apiUrl",
    env: "CHAT_API_URL",
    flag: "api-url",
    fallback: "http://127.0.0.1:8787",
    help: "the Worker's base URL",
  },
  { key: "token", env: "BOT_TOKEN", fallback: "BOT_TOKEN from .dev.vars", help: "bearer token for the bot API" },
  {
    key: "rooms",
    env: "BOT_ROOMS",
    flag: "rooms",
    fallback: "lobby",
    help: "comma-separated rooms to answer; * = every room (those with work, from one listing per poll)",
  },
  {
    key: "botId",
    env: "BOT_ID",
    flag: "bot-id",
    fallback: "<hostname>-<pid>",
    help: "this bot's name in claims and replies",
  },
  {
    key: "ollamaHost",
    env: "OLLAMA_HOST",
    flag: "ollama-host",
    fallback: "http://127.0.0.1:11434",
    help: "Ollama server",
  },
  { key: "model", env: "OLLAMA_MODEL", flag: "model", fallback: "llama3.2", help: "Ollama model" },
  {
    key: "pollMs",
    env: "BOT_POLL_MS",
    flag: "poll-ms",
    fallback: "3000",
    help: "poll interval (ms); also the base of retry backoff",
  },
  {
    key: "contextSize",
    env: "BOT_CONTEXT",
    flag: "context",
    fallback: "20",
    help: "last N room messages sent to the model (1..200)",
  },
  {
    key: "contextTokens",
    env: "BOT_CONTEXT_TOKENS",
    flag: "context-tokens",
    fallback: "4000",
    help: "at most about this many tokens of room messages sent to the model (estimated, ~4 characters a token)",
  },
  { key: "timeoutMs", env: "BOT_TIMEOUT_MS", flag: "timeout-ms", fallback: "120000", help: "generation timeout (ms)" },
  {
    key: "maxAttempts",
    env: "BOT_MAX_ATTEMPTS",
    flag: "max-attempts",
    fallback: "3",
    help: "failed generations before a message is marked failed",
  },
  {
    key: "stateFile",
    env: "BOT_STATE_FILE",
    flag: "state-file",
    fallback: ".bot-state.json (.bot-state-<BOT_ID>.json if BOT_ID is set)",
    help: "where the pending-verification list is kept",
  },
  {
    key: "systemPrompt",
    env: "BOT_SYSTEM_PROMPT",
    flag: "system-prompt",
    fallback: "a short chat-assistant prompt",
    help: "system prompt for the model",
  },
  {
    key: "think",
    env: "BOT_THINK",
    flag: "think",
    fallback: "off",
    help: "thinking models: off = answer without thinking; on, low, medium or high = think first and post the thinking above the answer",
  },
];

export const SWITCHES = [
  { key: "offline", env: "BOT_OFFLINE", flag: "offline", help: "use the built-in offline responder, never Ollama" },
  {
    key: "requireOllama",
    env: "BOT_REQUIRE_OLLAMA",
    flag: "require-ollama",
    help: "exit non-zero if Ollama is unreachable instead of going offline",
  },
  {
    key: "pull",
    env: "BOT_PULL",
    flag: "pull",
    help: "pull the model if the Ollama server does not have it (progress lines in the log)",
  },
] as const;

export class ConfigError extends Error {}

const positiveInt = (name: string, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ error: `${name} must be a number` })
    .int(`${name} must be a whole number`)
    .min(1, `${name} must be at least 1`)
    .max(max, `${name} must be at most ${max}`);

const configSchema = z.object({
  apiUrl: z.url({ error: "CHAT_API_URL must be a URL" }).transform((u) => u.replace(/\/+$/, "")),
  token: z
    .string({ error: "BOT_TOKEN is missing: set it, or run from the project after `npm start` wrote .dev.vars" })
    .min(1, "BOT_TOKEN must not be empty"),
  rooms: z.union([
    z.literal("*"),
    z
      .array(z.string().regex(ROOM_PATTERN, "BOT_ROOMS: room names must match [a-z0-9][a-z0-9-]{0,63}"))
      .min(1, "BOT_ROOMS must name at least one room"),
  ]),
  botId: z.string().min(1).max(100, "BOT_ID must be at most 100 characters"),
  author: z.string().min(1).optional(),
  ollamaHost: z.string().min(1),
  model: z.string().min(1),
  pollMs: positiveInt("BOT_POLL_MS"),
  contextSize: positiveInt("BOT_CONTEXT", 200),
  contextTokens: positiveInt("BOT_CONTEXT_TOKENS", 1_000_000),
  timeoutMs: positiveInt("BOT_TIMEOUT_MS"),
  maxAttempts: positiveInt("BOT_MAX_ATTEMPTS", 100),
  stateFile: z.string().min(1),
  systemPrompt: z.string().min(1).optional(),
  think: z.enum(THINK_SETTINGS, { error: `BOT_THINK must be one of ${THINK_SETTINGS.join(", ")}` }),
  pull: z.boolean(),
  offline: z.boolean(),
  requireOllama: z.boolean(),
  log: z.custom<Logger>((v) => typeof v === "function"),
});

function parseRooms(value: string): string[] | "*" {
  const trimmed = value.trim();
  if (trimmed === "*") return "*";
  return trimmed
    .split(",")
    .map((r) => r.trim())
    .filter(Boolean);
}

/** BOT_THINK also takes the usual switch spellings: 1/true/yes = on, 0/false/no = off. */
function parseThink(value: string): string {
  const v = value.trim().toLowerCase();
  if (/^(1|true|yes)$/.test(v)) return "on";
  if (/^(0|false|no)$/.test(v)) return "off";
  return v;
}

const truthy = (v: string | undefined) => v !== undefined && /^(1|true|yes|on)$/i.test(v.trim());

/** Fills defaults and validates; throws ConfigError with one readable line. */
export function resolveConfig(options: BotOptions = {}): BotConfig {
  const botIdGiven = options.botId !== undefined;
  const botId = options.botId ?? `${hostname()}-${process.pid}`;
  const candidate = {
    apiUrl: options.apiUrl ?? "http://127.0.0.1:8787",
    token: options.token ?? readDevVars().BOT_TOKEN,
    rooms: options.rooms ?? ["lobby"],
    botId,
    author: options.author,
    ollamaHost: options.ollamaHost ?? "http://127.0.0.1:11434",
    model: options.model ?? "llama3.2",
    pollMs: options.pollMs ?? 3000,
    contextSize: options.contextSize ?? 20,
    contextTokens: options.contextTokens ?? 4000,
    timeoutMs: options.timeoutMs ?? 120_000,
    maxAttempts: options.maxAttempts ?? 3,
    // The default must not depend on the pid, or a restarted bot would not find its list.
    stateFile:
      options.stateFile ??
      join(PROJECT_ROOT, botIdGiven ? `.bot-state-${safeFileName(botId)}.json` : ".bot-state.json"),
    systemPrompt: options.systemPrompt,
    think: options.think ?? "off",
    pull: options.pull ?? false,
    offline: options.offline ?? false,
    requireOllama: options.requireOllama ?? false,
    log: options.log ?? ((line: string) => console.log(line)),
  };
  const result = configSchema.safeParse(candidate);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(issue ? issue.message : "invalid configuration");
  }
  if (result.data.offline && result.data.requireOllama)
    throw new ConfigError("--offline and --require-ollama contradict each other");
  return result.data as BotConfig;
}

function safeFileName(value: string): string {
  return value.replace(/[^A-Za-z0-9._-]/g, "_");
}

/** Reads the environment and argv; flags override variables. `help: true` means print usage. */
export function parseCommandLine(
  argv: string[],
  env: NodeJS.ProcessEnv,
): { help: true } | { help: false; options: BotOptions } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: "boolean", short: "h" },
        ...Object.fromEntries(SETTINGS.filter((s) => s.flag).map((s) => [s.flag, { type: "string" as const }])),
        ...Object.fromEntries(SWITCHES.map((s) => [s.flag, { type: "boolean" as const }])),
      },
    });
  } catch (err) {
    throw new ConfigError(`${(err as Error).message} (see --help)`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) return { help: true };

  const raw: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const value = (s.flag ? (values[s.flag] as string | undefined) : undefined) ?? env[s.env];
    if (value === undefined || value === "") continue;
    raw[s.key] = s.key === "rooms" ? parseRooms(value) : s.key === "think" ? parseThink(value) : value;
  }
  for (const s of SWITCHES) {
    raw[s.key] = (values[s.flag] as boolean | undefined) ?? truthy(env[s.env]);
  }
  // Numbers are coerced and range-checked by resolveConfig.
  return { help: false, options: raw as BotOptions };
}

export function usage(): string {
  const lines = [
    "Usage: npm run bot -- [flags]     (or: npx tsx bot/main.ts [flags])",
    "",
    "Answers human messages in lossless-chat rooms with Ollama, and verifies every reply reached the room's cache.",
    "Each setting is an environment variable or a flag; the flag wins.",
    "",
  ];
  const left = (s: Setting) => (s.flag ? `--${s.flag} <value>` : "(environment only)");
  const width = Math.max(...SETTINGS.map((s) => left(s).length), ...SWITCHES.map((s) => `--${s.flag}`.length)) + 2;
  for (const s of SETTINGS) {
    lines.push(`  ${left(s).padEnd(width)}${s.env}: ${s.help} (default: ${s.fallback})`);
  }
  for (const s of SWITCHES) {
    lines.push(`  ${`--${s.flag}`.padEnd(width)}${s.env}=1: ${s.help}`);
  }
  lines.push(`  ${"--help".padEnd(width)}this text`);
  return lines.join("\n");
}
