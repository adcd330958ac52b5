// `npm run bench` options: parsed with node:util, validated with zod, one clear line on error.
import { z } from "zod";
import { readFlags, validate } from "../lib/cli";

export const SCENARIOS = [
  "throughput",
  "socket",
  "cpu",
  "openloop",
  "limits",
  "visibility",
  "requests",
  "history",
  "scrollback",
  "cost",
  "streaming",
  "flood",
  "fan-in",
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export const BENCH_USAGE = `Usage: npm run bench -- [options]

Starts a local Worker (wrangler dev on 127.0.0.1, fresh state) and measures:
  throughput   acknowledged writes/s per room, kv vs do, against GET /api/health (no-op); do
               vs the reference room's post in rounds, requests/s and server CPU per request
  socket       messages/s over WebSockets into one do room (16 closed-loop senders, 10
               listeners), ours vs a bare reference room (bench/reference); outbox lag
               and every acknowledged message's KV record; msgs/s and server CPU per message
               ours / reference with the spread of neighbouring runs
  cpu          server CPU per message, ours vs the reference room, at an equal fixed offered
               load measured concurrently: socket sends (16 senders, 10 listeners) and HTTP
               posts on one schedule to both Workers at once, each runtime's idle CPU rate taken
               out; a warm-up run, then rounds of concurrent pairs (the CPU targets' figures)
  openloop     latency under a steady offered load: the reference room's capacity first, then
               25, 50 and 75 % of it and 200 msgs/s offered on schedule (16 sender sockets, 10
               listeners) to ours and the reference; p50, p99, p99.9 from scheduled send to
               every listener
  limits       socket and HTTP writes with the post limit and socket checks active vs exempt
               (a second local Worker of the same code), both loaded at the same time, two rounds
  visibility   time until another client sees a message: push (do), polling (do, kv)
  requests     server requests per delivered message, 10 idle + 10 active pages per mode
  history      GET recent(200) latency with a short and a long room history (do)
  scrollback   scroll-back page latency (before=<seq>, 50 a page, anywhere in the log) in
               the same two rooms
  cost         USD per million messages per mode at 1, 10, 100 and 1,000 messages/min per room
               with 10 and 50 open pages, and per open page-hour with nobody writing: operations
               counted per open page-second (pages idle) and per message (one page writing at
               measured rates), × bench/cost/prices.ts
  streaming    streamed AI replies (the bot with the Ollama-protocol stub): model's first
               token → text at listening sockets, storage writes and pushes per reply
  flood        a real do room's reads and socket messages (20/s and 10/s, on schedule) timed
               quietly, during a flood of random never-written room names (2,000 requests/s
               for 30 s, open-loop, mostly reads and some socket upgrades, from 20 loopback
               addresses, each its own client of the read limit), and quietly again; the
               flood's answers, the generator's CPU, and the Control and registry calls
  fan-in       N rooms at one message a second each (a flag change naming one room
               halfway), then 2N rooms at half the rate, then a flip of the default: calls
               into the Control object and the registry shards per message, per second, per flip

  --json FILE            where to write the results (default docs/bench-latest.json)
  --only a,b             run only these scenarios
  --concurrency N        requests in flight for throughput and seeding (default 16)
  --duration-ms MS       per throughput scenario, after 1 s of warm-up (default 5000)
  --http-rounds N        rounds of reference, ours, ours, reference HTTP writes (default 2)
  --socket-ms MS         measured length of each socket run, after 1 s of warm-up (default 12000)
  --socket-rounds N      rounds of reference, ours, ours, reference socket runs (default 2)
  --cpu-ms MS            measured length of each cpu run, after 2 s of warm-up (default 15000)
  --cpu-rounds N         counted concurrent runs of the cpu scenario, after a warm-up run (default 4)
  --cpu-rate N           socket msgs/s offered to each room in the cpu scenario (default 100)
  --cpu-http-rate N      HTTP posts/s offered to each room in the cpu scenario (default 100)
  --cpu-idle-ms MS       each side's idle CPU rate (the median of one-second windows), measured
                         right before every cpu run (default 3000)
  --open-loop-ms MS      measured length of each open-loop run, after 2 s of warm-up (default 20000)
  --open-loop-rounds N   open-loop runs per load and room, the order alternating (default 2)
  --history N,N          room history sizes (default 1000,100000)
  --samples N            requests per room for history and scrollback (default 200)
  --seed auto|http|sqlite
                         how the long history is written (default auto: the API when it fits
                         --seed-budget-ms at the rate measured on the short one, else SQLite)
  --seed-budget-ms MS    (default 60000)
  --window-ms MS         length of the requests scenario (default 60000)
  --limit-ms MS          measured length of each limits run, after 1 s of warm-up (default 10000)
  --cost-idle-ms MS      length of the idle window, pages open and nobody writing (default 60000)
  --cost-idle-pages N    pages open in the idle window (default 50)
  --cost-write-ms MS     length of each measured write rate (default 20000)
  --quick                a shorter run for development: short windows, one round each; its
                         figures are not the committed ones
  --stream-replies N     streamed replies in the streaming scenario (default 30)
  --fan-in-rooms N       rooms of the fan-in scenario's first window; the second has twice
                         as many (default 100: a hundred messages a second, which one
                         workerd thread on a loaded 2-core machine still carries)
  --fan-in-ms MS         the first window (the second is half as long; default 60000)
  --flood-rate N         flood requests offered per second (default 2000)
  --flood-ms MS          length of the flood (default 30000)
  --flood-addresses N    loopback addresses the flood comes from, 127.0.1.1 … (default 20)
  --flood-quiet-ms MS    measured length of each quiet phase around the flood (default 15000)
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
  httpRounds: int("--http-rounds", 1, 10).default(2),
  cpuMs: int("--cpu-ms", 1_000, 600_000).default(15_000),
  cpuRounds: int("--cpu-rounds", 1, 20).default(4),
  cpuRate: int("--cpu-rate", 1, 2_000).default(100),
  cpuHttpRate: int("--cpu-http-rate", 1, 2_000).default(100),
  cpuIdleMs: int("--cpu-idle-ms", 500, 60_000).default(3_000),
  openLoopMs: int("--open-loop-ms", 1_000, 600_000).default(20_000),
  openLoopRounds: int("--open-loop-rounds", 1, 10).default(2),
  socketMs: int("--socket-ms", 1_000, 600_000).default(12_000),
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
  costIdleMs: int("--cost-idle-ms", 5_000, 3_600_000).default(60_000),
  costIdlePages: int("--cost-idle-pages", 1, 500).default(50),
  costWriteMs: int("--cost-write-ms", 5_000, 3_600_000).default(20_000),
  streamReplies: int("--stream-replies", 1, 10_000).default(30),
  fanInRooms: int("--fan-in-rooms", 2, 2_000).default(100),
  fanInMs: int("--fan-in-ms", 2_000, 3_600_000).default(60_000),
  floodRate: int("--flood-rate", 1, 10_000).default(2_000),
  floodMs: int("--flood-ms", 3_000, 120_000).default(30_000),
  floodAddresses: int("--flood-addresses", 1, 250).default(20),
  floodQuietMs: int("--flood-quiet-ms", 1_000, 120_000).default(15_000),
  quick: z.boolean().default(false),
});

export type BenchOptions = z.infer<typeof schema>;

/** --quick: minutes instead of a quarter of an hour, for development; written apart from the committed results. */
const QUICK = {
  "json": ".tmp/bench-quick.json",
  "duration-ms": "2000",
  "http-rounds": "1",
  "socket-ms": "5000",
  "socket-rounds": "1",
  "open-loop-ms": "4000",
  "open-loop-rounds": "1",
  "cpu-ms": "4000",
  "cpu-rounds": "2",
  "history": "1000,5000",
  "seed-budget-ms": "20000",
  "samples": "50",
  "window-ms": "10000",
  "limit-ms": "3000",
  "cost-idle-ms": "20000",
  "cost-write-ms": "10000",
  "stream-replies": "5",
  "fan-in-rooms": "20",
  "fan-in-ms": "10000",
  "flood-ms": "10000",
  "flood-quiet-ms": "5000",
} as const;

export function parseBenchOptions(argv: string[]): BenchOptions | "help" {
  const values = readFlags(argv, {
    "json": { type: "string" },
    "only": { type: "string" },
    "concurrency": { type: "string" },
    "duration-ms": { type: "string" },
    "socket-ms": { type: "string" },
    "socket-rounds": { type: "string" },
    "http-rounds": { type: "string" },
    "open-loop-ms": { type: "string" },
    "open-loop-rounds": { type: "string" },
    "cpu-ms": { type: "string" },
    "cpu-rounds": { type: "string" },
    "cpu-rate": { type: "string" },
    "cpu-http-rate": { type: "string" },
    "cpu-idle-ms": { type: "string" },
    "history": { type: "string" },
    "seed": { type: "string" },
    "seed-budget-ms": { type: "string" },
    "samples": { type: "string" },
    "window-ms": { type: "string" },
    "limit-ms": { type: "string" },
    "cost-idle-ms": { type: "string" },
    "cost-idle-pages": { type: "string" },
    "cost-write-ms": { type: "string" },
    "quick": { type: "boolean" },
    "stream-replies": { type: "string" },
    "fan-in-rooms": { type: "string" },
    "fan-in-ms": { type: "string" },
    "flood-rate": { type: "string" },
    "flood-ms": { type: "string" },
    "flood-addresses": { type: "string" },
    "flood-quiet-ms": { type: "string" },
  });
  if (values === "help") return "help";
  // --quick: the shorter value of every option not given (a flag given still wins)
  const q = (name: keyof typeof QUICK) => values[name] ?? (values.quick ? QUICK[name] : undefined);
  return validate(schema, {
    json: q("json"),
    only: values.only,
    concurrency: values.concurrency,
    durationMs: q("duration-ms"),
    socketMs: q("socket-ms"),
    socketRounds: q("socket-rounds"),
    httpRounds: q("http-rounds"),
    openLoopMs: q("open-loop-ms"),
    openLoopRounds: q("open-loop-rounds"),
    cpuMs: q("cpu-ms"),
    cpuRounds: q("cpu-rounds"),
    cpuRate: values["cpu-rate"],
    cpuHttpRate: values["cpu-http-rate"],
    cpuIdleMs: values["cpu-idle-ms"],
    history: q("history"),
    seed: values.seed,
    seedBudgetMs: q("seed-budget-ms"),
    samples: q("samples"),
    windowMs: q("window-ms"),
    limitMs: q("limit-ms"),
    costIdleMs: q("cost-idle-ms"),
    costIdlePages: values["cost-idle-pages"],
    costWriteMs: q("cost-write-ms"),
    streamReplies: q("stream-replies"),
    fanInRooms: q("fan-in-rooms"),
    fanInMs: q("fan-in-ms"),
    floodRate: values["flood-rate"],
    floodMs: q("flood-ms"),
    floodAddresses: values["flood-addresses"],
    floodQuietMs: q("flood-quiet-ms"),
    quick: values.quick === true,
  });
}
