// `npm run race` options: parsed with node:util, validated with zod, one clear line on error.
import { z } from "zod";
import { readFlags, validate } from "../lib/cli";
import { UsageError } from "../lib/target";

export const RACE_USAGE = `Usage: npm run race -- [options]

  --tabs N[,N…]          tabs per round; a list runs each (default 29)
  --mode kv|do|both      which path to race (default both)
  --rounds R             rounds per mode and tab count, each in a fresh room (default 1)
  --poll-ms MS           the tabs' poll interval, jittered to [MS, 1.4 MS) (default 5000: the page's 5–7 s)
  --bot offline|ollama|none
                         who answers: the real bot (bot/main.ts) with --offline or --require-ollama (default offline)
  --bots K               bot processes answering each room at once (default 1)
  --no-push              do-mode tabs poll only (the page also listens on the room's WebSocket)
  --deadline-ms MS       give up on a round after MS (default 30 s + 12 poll intervals + 250 ms per tab)
  --url URL              race an existing Worker instead of starting a local one
  --admin-token TOKEN    with --url (or ADMIN_TOKEN): sets the flag for the lab's rooms
  --bot-token TOKEN      with --url (or BOT_TOKEN): for the bot
  --json FILE            write the results as JSON
  --report FILE.html     write a self-contained HTML report with a chart
  --help                 this text

Exits 1 if any acknowledged message is never delivered, or delivered twice, within the deadline.`;

const intList = z
  .string()
  .regex(/^\d+(,\d+)*$/, "--tabs must be a number or a comma-separated list, e.g. 8,29,100")
  .transform((s) => s.split(",").map(Number))
  .pipe(z.array(z.number().int().min(1, "--tabs must be at least 1").max(1000, "--tabs must be at most 1000")));
const int = (name: string, min: number, max: number) =>
  z.coerce
    .number({ error: `${name} must be a number` })
    .int(`${name} must be a whole number`)
    .min(min, `${name} must be at least ${min}`)
    .max(max, `${name} must be at most ${max}`);

const schema = z.object({
  tabs: intList.default([29]),
  mode: z.enum(["kv", "do", "both"], { error: "--mode must be kv, do or both" }).default("both"),
  rounds: int("--rounds", 1, 100).default(1),
  pollMs: int("--poll-ms", 50, 60_000).default(5_000),
  bot: z.enum(["offline", "ollama", "none"], { error: "--bot must be offline, ollama or none" }).default("offline"),
  bots: int("--bots", 1, 10).default(1),
  push: z.boolean().default(true),
  deadlineMs: int("--deadline-ms", 1_000, 3_600_000).optional(),
  url: z.url({ error: "--url must be a URL" }).optional(),
  adminToken: z.string().min(1).optional(),
  botToken: z.string().min(1).optional(),
  json: z.string().min(1).optional(),
  report: z
    .string()
    .regex(/\.html?$/i, "--report must name an .html file")
    .optional(),
});

/** deadlineMs null: each round gets defaultDeadlineMs for its tab count. */
export type RaceOptions = Omit<z.infer<typeof schema>, "mode" | "deadlineMs"> & {
  modes: ("kv" | "do")[];
  deadlineMs: number | null;
};

/**
 * Long enough for a post, a missed check, a heal, the bot's reply and its own check
 * and heal, plus the one bot's time to answer every tab (a few requests per reply).
 */
export function defaultDeadlineMs(pollMs: number, tabs: number): number {
  return 30_000 + 12 * Math.ceil(pollMs * 1.4) + 250 * tabs;
}

export function parseRaceOptions(argv: string[], env: NodeJS.ProcessEnv): RaceOptions | "help" {
  const values = readFlags(
    argv,
    {
      "tabs": { type: "string" },
      "mode": { type: "string" },
      "rounds": { type: "string" },
      "poll-ms": { type: "string" },
      "bot": { type: "string" },
      "bots": { type: "string" },
      "push": { type: "boolean" },
      "deadline-ms": { type: "string" },
      "url": { type: "string" },
      "admin-token": { type: "string" },
      "bot-token": { type: "string" },
      "json": { type: "string" },
      "report": { type: "string" },
    },
    true,
  );
  if (values === "help") return "help";
  const { mode, deadlineMs, ...rest } = validate(schema, {
    tabs: values.tabs,
    mode: values.mode,
    rounds: values.rounds,
    pollMs: values["poll-ms"],
    bot: values.bot,
    bots: values.bots,
    push: values.push,
    deadlineMs: values["deadline-ms"],
    url: values.url,
    // Tokens only matter with --url; a local Worker brings its own.
    adminToken: values["admin-token"] ?? (values.url ? env.ADMIN_TOKEN : undefined),
    botToken: values["bot-token"] ?? (values.url ? env.BOT_TOKEN : undefined),
    json: values.json,
    report: values.report,
  });
  if (rest.url && !rest.adminToken)
    throw new UsageError("--url needs the admin token: pass --admin-token or set ADMIN_TOKEN");
  if (rest.url && rest.bot !== "none" && !rest.botToken)
    throw new UsageError("--url with a bot needs the bot token: pass --bot-token or set BOT_TOKEN (or use --bot none)");
  return {
    ...rest,
    modes: mode === "both" ? ["kv", "do"] : [mode],
    deadlineMs: deadlineMs ?? null,
  };
}
