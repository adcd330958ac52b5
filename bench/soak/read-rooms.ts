// The end of the soak: what every room holds. A do room's whole log is read through
// `since` paging (by change position, `pos`); a kv room shows only its newest 200, so
// that list is kept as the page sees it, then the room is flipped to do (the audit flip)
// and its log read as well: the log keeps every message the room acknowledged while in
// do mode, and the flip merges the kv list into it.
import { CACHE_SIZE, type PathMode, type Message } from "../../src/shared/message";
import type { ChatClient } from "../lib/api";
import { now } from "../lib/time";
import type { ModeBook } from "./modes";

export type RoomContents = {
  room: string;
  /** the mode the room was in when the audit began (what its list answered) */
  finalMode: PathMode;
  /** kv rooms: the list a page saw at the end */
  kvList: Message[] | null;
  /** the room's whole log (kv rooms: after the audit flip) */
  log: Message[];
  /** kv rooms: when the audit flip was answered */
  auditFlipAt: number | null;
};

export async function readRooms(admin: ChatClient, book: ModeBook): Promise<RoomContents[]> {
  const contents: RoomContents[] = [];
  for (const room of book.rooms) {
    const first = await admin.list(room, CACHE_SIZE);
    let auditFlipAt: number | null = null;
    if (first.mode === "kv") {
      // Also when the flag already says do: a room cut off mid-flip answers kv until the next flag version.
      await admin.setRoomMode(room, "do");
      auditFlipAt = now();
      book.set(room, "do", auditFlipAt);
    }
    contents.push({
      room,
      finalMode: first.mode,
      kvList: first.mode === "kv" ? first.comments : null,
      log: await readWholeLog(admin, room),
      auditFlipAt,
    });
  }
  return contents;
}

/** Every message of a do room, oldest change first, CACHE_SIZE a page. */
export async function readWholeLog(client: ChatClient, room: string): Promise<Message[]> {
  const messages: Message[] = [];
  for (let since = 0; ;) {
    const page = await client.list(room, CACHE_SIZE, since);
    if (page.mode !== "do") throw new Error(`room ${room} answered in ${page.mode} mode while its log was read`);
    messages.push(...page.comments);
    const last = page.comments.at(-1)?.pos;
    if (page.comments.length < CACHE_SIZE || last === undefined) return messages;
    since = last;
  }
}
