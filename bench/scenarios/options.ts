// `npm run bench` options: parsed with node:util, validated with zod, one clear line on error.
import { z } from "zod";
import { readFlags, validate } from "../lib/cli";

export const SCENARIOS = [
  "throughput",
  "socket",
  "limits",
  "visibility",
  "requests",
  "history",
  "scrollback",
  "cost",
  "streaming",
  "fan-in",
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export const BENCH_USAGE = `Usage: npm run bench -- [options]

Starts a local Worker (wrangler dev on 127.0.0.1, fresh state) and measures:
  throughput   acknowledged writes/s per room, kv vs do, against GET /api/health (no-op)
  socket       messages/s over WebSockets into one do room (16 closed-loop senders, 10
               listeners), ours vs a bare reference room (bench/reference); outbox lag
               and every acknowledged message's KV record
  limits       socket and HTTP writes with the post limit and socket checks active vs exempt
               (a second local Worker of the same code), both loaded at the same time, two rounds
  visibility   time until another client sees a message: push (do), polling (do, kv)
  requests     server requests per delivered message, 10 idle + 10 active pages per mode
  history      GET recent(200) latency with a short and a long room history (do)
  scrollback   scroll-back page latency (before=<seq>, 50 a page, anywhere in the log) in
               the same two rooms
  cost         USD per million messages per mode, 10 and 50 open pages: operations counted
               (client and server usage counters) × bench/cost/prices.ts
  streaming    streamed AI replies (the bot with the Ollama-protocol stub): model's first
               token → text at listening sockets, storage writes and pushes per reply
  fan-in       N rooms at one message a second each (a flag change naming one room
               halfway), then 2N rooms at half the rate, then a flip of the default: calls
               into the Control object and the registry shards per message, per second, per flip

  --json FILE            where to write the results (default docs/bench-latest.json)
  --only a,b             run only these scenarios
  --concurrency N        requests in flight for throughput and seeding (default 16)
  --duration-ms MS       per throughput scenario, after 1 s of warm-up (default 5000)
  --socket-ms MS         measured length of each socket run, after 1 s of warm-up (default 20000)
  --socket-rounds N      rounds of reference, ours, ours, reference socket runs (default 2)
  --history N,N          room history sizes (default 1000,100000)
  --samples N            requests per room for history and scrollback (default 200)
  --seed auto|http|sqlite
                         how the long history is written (default auto: the API when it fits
                         --seed-budget-ms at the rate measured on the short one, else SQLite)
  --seed-budget-ms MS    (default 60000)
  --window-ms MS         length of the requests scenario (default 60000)
  --limit-ms MS          measured length of each limits run, after 1 s of warm-up (default 10000)
  --cost-messages N      messages per cost run (default 300)
  --cost-window-ms MS    wall time of each cost run, messages at an even pace (default 60000)
  --cost-pages N,N       open pages of the cost runs (default 10,50)
  --stream-replies N     streamed replies in the streaming scenario (default 30)
  --fan-in-rooms N       rooms of the fan-in scenario's first window; the second has twice
                         as many (default 200)
  --fan-in-ms MS         the first window (the second is half as long; default 60000)
  --help                 this text`;

const int = (name: string, min: number, max: number) =>
  z.coerce
    .number({ error: `${name} must be a number` })
    .int(`${name} must be a whole number`)
    .min(min, `${name} must be at least ${min}`)
    .max(max, `${name} must be at most ${max}`);

const schema = z.object({
  json: z.string().min(1).default("docs/bench-latest.json"),
  only: z
    .string()
    .transform((s) => s.split(",").map((x) => x.trim()))
    .pipe(z.array(z.enum(SCENARIOS, { error: `--only takes ${SCENARIOS.join(", ")}` })))
    .default([...SCENARIOS]),
  concurrency: int("--concurrency", 1, 256).default(16),
  durationMs: int("--duration-ms", 500, 600_000).default(5_000),
  socketMs: int("--socket-ms", 1_000, 600_000).default(20_000),
  socketRounds: int("--socket-rounds", 1, 10).default(2),
  history: z
    .string()
    .regex(/^\d+(,\d+)+$/, "--history takes at least two sizes, e.g. 1000,100000")
    .transform((s) => s.split(",").map(Number))
    .pipe(z.array(z.number().int().min(200, "--history sizes must be at least 200").max(10_000_000)))
    .default([1_000, 100_000]),
  seed: z.enum(["auto", "http", "sqlite"], { error: "--seed must be auto, http or sqlite" }).default("auto"),
  seedBudgetMs: int("--seed-budget-ms", 0, 3_600_000).default(60_000),
  samples: int("--samples", 1, 100_000).default(200),
  windowMs: int("--window-ms", 5_000, 3_600_000).default(60_000),
  limitMs: int("--limit-ms", 1_000, 600_000).default(10_000),
  costMessages: int("--cost-messages", 1, 100_000).default(300),
  costWindowMs: int("--cost-window-ms", 1_000, 3_600_000).default(60_000),
  costPages: z
    .string()
    .regex(/^\d+(,\d+)*$/, "--cost-pages takes page counts, e.g. 10,50")
    .transform((s) => s.split(",").map(Number))
    .pipe(
      z.array(z.number().int().min(1, "--cost-pages must be at least 1").max(500, "--cost-pages must be at most 500")),
    )
    .default([10, 50]),
  streamReplies: int("--stream-replies", 1, 10_000).default(30),
  fanInRooms: int("--fan-in-rooms", 2, 2_000).default(200),
  fanInMs: int("--fan-in-ms", 2_000, 3_600_000).default(60_000),
});

export type BenchOptions = z.infer<typeof schema>;

export function parseBenchOptions(argv: string[]): BenchOptions | "help" {
  const values = readFlags(argv, {
    "json": { type: "string" },
    "only": { type: "string" },
    "concurrency": { type: "string" },
    "duration-ms": { type: "string" },
    "socket-ms": { type: "string" },
    "socket-rounds": { type: "string" },
    "history": { type: "string" },
    "seed": { type: "string" },
    "seed-budget-ms": { type: "string" },
    "samples": { type: "string" },
    "window-ms": { type: "string" },
    "limit-ms": { type: "string" },
    "cost-messages": { type: "string" },
    "cost-window-ms": { type: "string" },
    "cost-pages": { type: "string" },
    "stream-replies": { type: "string" },
    "fan-in-rooms": { type: "string" },
    "fan-in-ms": { type: "string" },
  });
  if (values === "help") return "help";
  return validate(schema, {
    json: values.json,
    only: values.only,
    concurrency: values.concurrency,
    durationMs: values["duration-ms"],
    socketMs: values["socket-ms"],
    socketRounds: values["socket-rounds"],
    history: values.history,
    seed: values.seed,
    seedBudgetMs: values["seed-budget-ms"],
    samples: values.samples,
    windowMs: values["window-ms"],
    limitMs: values["limit-ms"],
    costMessages: values["cost-messages"],
    costWindowMs: values["cost-window-ms"],
    costPages: values["cost-pages"],
    streamReplies: values["stream-replies"],
    fanInRooms: values["fan-in-rooms"],
    fanInMs: values["fan-in-ms"],
  });
}
