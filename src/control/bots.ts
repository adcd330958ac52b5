// The bot book, kept by the Control object: operator-level data that changes rarely (a bot
// created, rotated or revoked; a room's default bot set). The Worker caches the whole book per
// isolate (src/worker/bot-identity.ts); rooms get their part pushed when it changes.
import type { BotDirectory, BotDirectoryEntry, BotInfo, BotRooms, RoomBots } from "../shared/bots";
import { servesRoom } from "../shared/bots";

type BotRow = {
  name: string;
  model: string;
  rooms: string;
  token_hash: string;
  created_at: number;
  rotated_at: number | null;
};

const toEntry = (row: BotRow): BotDirectoryEntry => ({
  name: row.name,
  model: row.model,
  rooms: JSON.parse(row.rooms) as BotRooms,
  createdAt: row.created_at,
  rotatedAt: row.rotated_at,
  tokenHash: row.token_hash,
});

export class BotBook {
  constructor(private readonly sql: SqlStorage) {}

  directory(): BotDirectory {
    const bots = this.sql.exec<BotRow>(`SELECT * FROM bots ORDER BY name`).toArray().map(toEntry);
    const defaults = Object.fromEntries(
      this.sql
        .exec<{ room: string; bot: string }>(`SELECT room, bot FROM room_default_bots ORDER BY room`)
        .toArray()
        .map((row) => [row.room, row.bot]),
    );
    return { bots, defaults };
  }

  get(name: string): BotDirectoryEntry | null {
    const row = this.sql.exec<BotRow>(`SELECT * FROM bots WHERE name = ?`, name).toArray()[0];
    return row ? toEntry(row) : null;
  }

  /** False when the name is taken. */
  create(bot: Omit<BotInfo, "rotatedAt">, tokenHash: string): boolean {
    if (this.get(bot.name)) return false;
    this.sql.exec(
      `INSERT INTO bots (name, model, rooms, token_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
      bot.name,
      bot.model,
      JSON.stringify(bot.rooms),
      tokenHash,
      bot.createdAt,
    );
    return true;
  }

  rotate(name: string, tokenHash: string, now: number): boolean {
    return (
      this.sql.exec(`UPDATE bots SET token_hash = ?, rotated_at = ? WHERE name = ?`, tokenHash, now, name).rowsWritten >
      0
    );
  }

  /** Removes the bot and the defaults that named it; answers the rooms whose configuration changed. */
  revoke(name: string): string[] | null {
    const bot = this.get(name);
    if (!bot) return null;
    const rooms = this.roomsOf(bot);
    this.sql.exec(`DELETE FROM bots WHERE name = ?`, name);
    this.sql.exec(`DELETE FROM room_default_bots WHERE bot = ?`, name);
    return rooms;
  }

  setDefault(room: string, bot: string | null): void {
    if (bot === null) this.sql.exec(`DELETE FROM room_default_bots WHERE room = ?`, room);
    else
      this.sql.exec(
        `INSERT INTO room_default_bots (room, bot) VALUES (?, ?) ON CONFLICT (room) DO UPDATE SET bot = excluded.bot`,
        room,
        bot,
      );
  }

  /**
   * The rooms a bot's change must be pushed to: those it names, and those whose default it is.
   * A bot serving every room is not pushed everywhere: the Worker's roster names it on each bot call.
   */
  roomsOf(bot: BotDirectoryEntry): string[] {
    const named = bot.rooms === "all" ? [] : bot.rooms;
    const defaults = this.sql
      .exec<{ room: string }>(`SELECT room FROM room_default_bots WHERE bot = ?`, bot.name)
      .toArray()
      .map((row) => row.room);
    return [...new Set([...named, ...defaults])];
  }

  /** One room's part of the book, as the room keeps it. */
  roomBots(room: string, directory: BotDirectory = this.directory()): RoomBots {
    const { bots, defaults } = directory;
    return {
      bots: bots.filter((bot) => servesRoom(bot.rooms, room)).map(({ name, model }) => ({ name, model })),
      defaultBot: defaults[room] ?? null,
    };
  }
}
