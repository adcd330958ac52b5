// The room's part of the bot book, pushed by the Control object when the operator changes bots
// (never asked for per message), and the addressing rule applied to what a bot may take.
import { addressee, type RoomBots } from "../shared/bots";
import type { Message } from "../shared/message";
import type { Refusal } from "../shared/leases";

const KEY = "bots";
const NONE: RoomBots = { bots: [], defaultBot: null };

export class RoomBotsConfig {
  private cached: RoomBots | undefined;

  /** The object's key-value storage: a push to a never-written room creates no room tables. */
  constructor(private readonly kv: SyncKvStorage) {}

  get(): RoomBots {
    this.cached ??= this.kv.get<RoomBots>(KEY) ?? NONE;
    return this.cached;
  }

  set(config: RoomBots): void {
    this.kv.put(KEY, config);
    this.cached = config;
  }

  /**
   * Whether `botId` may take `message`: its mention names another bot of the room, or the room's
   * default is another bot. `roster`: the bots serving the room, as the Worker's bot book says
   * (bots serving every room are in it but never pushed), with the pushed ones added.
   */
  refuse(message: Message, botId: string, roster: readonly string[]): Refusal | null {
    const config = this.get();
    const names = [...new Set([...roster, ...config.bots.map((bot) => bot.name)])];
    const to = addressee(message.text, names, config.defaultBot);
    if (to === null || to === botId) return null;
    return { status: 409, error: `message is addressed to @${to}` };
  }
}
