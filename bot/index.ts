// The bot's public API for in-process use (the race lab, `npm start`).
export { startBot, FatalBotError, type BotHandle } from "./bot";
export {
  resolveConfig,
  parseCommandLine,
  usage,
  ConfigError,
  type BotConfig,
  type BotOptions,
  type Logger,
} from "./config";
export { OFFLINE_AUTHOR, OllamaUnavailableError, type Responder } from "./responder";
export { StateFileError } from "./state";
