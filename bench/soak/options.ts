// `npm run soak` options: parsed with node:util, validated with zod, one clear line on error.
import { z } from "zod";
import { readFlags, validate } from "../lib/cli";
import { UsageError } from "../lib/target";

export const SOAK_USAGE = `Usage: npm run soak -- [options]

A chaos soak against a local wrangler dev: writers (page-like tabs) post into rooms,
half in do mode and half in kv, while the Worker is killed (SIGKILL) and restarted
on the same state, rooms flip between kv and do, and the bots are killed mid-
generation. Then every acknowledged message is audited, by the mode that acknowledged it.

  --minutes M            how long the posting (and the chaos) lasts (default 9: under 10 minutes in all)
  --writers W            page-like tabs posting, spread over the rooms (default 200)
  --rooms R              rooms, an even number: half start in do mode, half in kv (default 20)
  --posts N              messages posted in all (default 20000)
  --server-kills K       times the Worker is killed and restarted (default 4)
  --bot-kills K          times a bot is killed mid-generation and restarted (default 4)
  --flip-every-s S       seconds between flips of one room kv↔do; 0: no flips (default 5)
  --bots B               bot processes answering every room; 0: no bot (default 2)
  --generation-ms MS     how long the bots' offline responder takes per reply, so kills land mid-generation (default 100)
  --claim-lease-s S      the Worker's bot lease (CLAIM_LEASE_MS), so a killed bot's claim runs out within the run (default 20)
  --poll-ms MS           the tabs' poll interval, jittered to [MS, 1.4 MS) (default 5000: the page's 5–7 s)
  --settle-s S           after the chaos, wait at most this long for every acknowledged message to be verified (default 90)
  --json FILE            write the results as JSON (default docs/soak-latest.json)
  --no-json              do not write them
  --history FILE         also write the raw history (every send, heal and read) as JSON, for bench/check
  --help                 this text

Readers poll every room and listen on its socket; the run's history (sends, heals, reads)
is checked as Jepsen checks a queue: lost writes, duplicates, aborted reads, phantoms,
order anomalies, status regressions and double answers, per mode.

Exits 1 if a do-mode figure that must be 0 is not: an acknowledged message missing on its
first check, healed, lost, duplicated, a human message answered twice, or any do anomaly
the history check found.`;

const int = (name: string, min: number, max: number) =>
  z.coerce
    .number({ error: `${name} must be a number` })
    .int(`${name} must be a whole number`)
    .min(min, `${name} must be at least ${min}`)
    .max(max, `${name} must be at most ${max}`);

const schema = z.object({
  minutes: z.coerce
    .number({ error: "--minutes must be a number" })
    .min(0.25, "--minutes must be at least 0.25")
    .max(120, "--minutes must be at most 120")
    .default(9),
  writers: int("--writers", 2, 1_000).default(200),
  rooms: int("--rooms", 2, 200)
    .refine((n) => n % 2 === 0, "--rooms must be even (half do, half kv)")
    .default(20),
  posts: int("--posts", 2, 1_000_000).default(20_000),
  serverKills: int("--server-kills", 0, 100).default(4),
  botKills: int("--bot-kills", 0, 100).default(4),
  flipEveryS: z.coerce
    .number({ error: "--flip-every-s must be a number" })
    .min(0, "--flip-every-s must be 0 or more")
    .max(3_600)
    .default(5),
  bots: int("--bots", 0, 10).default(2),
  generationMs: int("--generation-ms", 1, 60_000).default(100),
  claimLeaseS: int("--claim-lease-s", 5, 3_600).default(20),
  pollMs: int("--poll-ms", 50, 60_000).default(5_000),
  settleS: int("--settle-s", 0, 3_600).default(90),
  json: z.string().min(1).nullable().default("docs/soak-latest.json"),
  history: z.string().min(1).nullable().default(null),
});

export type SoakOptions = z.infer<typeof schema>;

export function parseSoakOptions(argv: string[]): SoakOptions | "help" {
  const values = readFlags(argv, {
    "minutes": { type: "string" },
    "writers": { type: "string" },
    "rooms": { type: "string" },
    "posts": { type: "string" },
    "server-kills": { type: "string" },
    "bot-kills": { type: "string" },
    "flip-every-s": { type: "string" },
    "bots": { type: "string" },
    "generation-ms": { type: "string" },
    "claim-lease-s": { type: "string" },
    "poll-ms": { type: "string" },
    "settle-s": { type: "string" },
    "json": { type: "string" },
    "no-json": { type: "boolean" },
    "history": { type: "string" },
  });
  if (values === "help") return "help";
  const options = validate(schema, {
    minutes: values.minutes,
    writers: values.writers,
    rooms: values.rooms,
    posts: values.posts,
    serverKills: values["server-kills"],
    botKills: values["bot-kills"],
    flipEveryS: values["flip-every-s"],
    bots: values.bots,
    generationMs: values["generation-ms"],
    claimLeaseS: values["claim-lease-s"],
    pollMs: values["poll-ms"],
    settleS: values["settle-s"],
    json: values["no-json"] ? null : values.json,
    history: values.history,
  });
  if (options.writers < options.rooms)
    throw new UsageError("--writers must be at least --rooms (every room needs a writer)");
  if (options.posts < options.writers) throw new UsageError("--posts must be at least --writers (every writer posts)");
  if (options.botKills > 0 && options.bots === 0)
    throw new UsageError("--bot-kills needs a bot: pass --bots 1 or more, or --bot-kills 0");
  return options;
}
