// `npm run bot`: the bot as its own process. SIGINT/SIGTERM stop it cleanly (exit 0).
import { ConfigError, parseCommandLine, usage } from "./config";
import { startBot } from "./bot";

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandLine(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`[Bot] ${err.message}`);
      return 2;
    }
    throw err;
  }
  if (parsed.help) {
    console.log(usage());
    return 0;
  }

  let bot;
  try {
    bot = await startBot(parsed.options);
  } catch (err) {
    // Bad settings, --require-ollama without Ollama, an unreadable state file: one clear line.
    const message = (err as Error).message;
    console.error(message.startsWith("[Bot]") ? message : `[Bot] ${message}`);
    return err instanceof ConfigError ? 2 : 1;
  }

  let signalled = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    console.log(`[Bot] ${signal} received`);
    void bot.stop();
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);

  try {
    await bot.done;
    await bot.stop();
    return 0;
  } catch (err) {
    console.error((err as Error).message);
    await bot.stop();
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
