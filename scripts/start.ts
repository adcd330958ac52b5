// `npm start`: the Worker (wrangler dev on 127.0.0.1:8787, local KV and DOs under
// .wrangler/state) and the bot, in one process tree; one Ctrl-C stops both.
// Writes .dev.vars with random tokens on first run. Bot settings come from the
// environment or flags after `--` (e.g. `npm start -- --offline`), see `npm run bot -- --help`.
import { join } from "node:path";
import { startBot, type BotHandle } from "../bot/bot";
import { ConfigError, parseCommandLine, resolveConfig, usage } from "../bot/config";
import { ensureDevVars } from "./dev-vars";
import { PROJECT_ROOT, startLocalWorker } from "./local-worker";

async function main(): Promise<void> {
  // --verbose is ours (a request line per request); every other flag is the bot's.
  const args = process.argv.slice(2);
  const verbose = args.includes("--verbose");
  const parsed = parseCommandLine(
    args.filter((arg) => arg !== "--verbose"),
    process.env,
  );
  if (parsed.help) {
    console.log(
      `npm start [-- --verbose] [-- bot flags]: the Worker on http://127.0.0.1:${process.env.PORT ?? 8787} and the bot.\n--verbose prints a line per request.\n\n${usage()}`,
    );
    return;
  }
  const vars = ensureDevVars();
  const port = Number(process.env.PORT ?? 8787);
  // Bad bot settings stop us before the Worker starts, not after.
  // Locally the bot answers every room the page can open, unless BOT_ROOMS/--rooms says otherwise.
  const botOptions = {
    rooms: "*" as const,
    ...parsed.options,
    apiUrl: `http://127.0.0.1:${port}`,
    token: vars.BOT_TOKEN,
  };
  resolveConfig(botOptions);
  const worker = await startLocalWorker({
    port,
    persistTo: join(PROJECT_ROOT, ".wrangler", "state"),
    adminToken: vars.ADMIN_TOKEN,
    botToken: vars.BOT_TOKEN,
    inheritOutput: true,
    logLevel: verbose ? "info" : "warn",
  });

  let bot: BotHandle | undefined;
  try {
    bot = await startBot({ ...botOptions, apiUrl: worker.url });
  } catch (err) {
    console.error(`The bot did not start: ${(err as Error).message}`);
  }
  const rooms = bot ? (bot.config.rooms === "*" ? "every room" : bot.config.rooms.map((r) => `#${r}`).join(", ")) : "";
  const answers = !bot
    ? "the bot is not running (see above)"
    : bot.responder.kind === "ollama"
      ? `${rooms} answered by real Ollama (${bot.responder.description})`
      : `${rooms} answered by the offline responder: no Ollama, replies are marked "bot (offline)"`;
  console.log(`\nlossless-chat is running: ${worker.url}/  (operator page: ${worker.url}/admin, tokens in .dev.vars)`);
  console.log(`Bot: ${answers}. Ctrl-C stops both.\n`);

  bot?.done.catch(async (err) => {
    console.error(`${(err as Error).message}\nThe bot stopped; the Worker keeps running.`);
  });

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    await bot?.stop();
    await worker.stop();
    process.exit(0);
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}

main().catch((err) => {
  console.error(err instanceof ConfigError ? `[Bot] ${err.message}` : err);
  process.exit(err instanceof ConfigError ? 2 : 1);
});
