// The plans of the room's hot queries, from SQLite itself (EXPLAIN QUERY PLAN): each reads a
// range of the rowid (`seq`) or of one index, never the whole log, and sorts in a temporary
// b-tree only where the range is small by construction (the mirror's newest, a seq range long).
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Room } from "../../src/room/room";
import {
  AFTER_SQL,
  EXPIRED_SQL,
  GET_SQL,
  NEWEST_SQL,
  OPEN_SQL,
  OWED_SQL,
  PAGE_BEFORE_SQL,
  RECENT_SQL,
} from "../../src/room/log";
import { post, setRoomMode, uniqueRoom } from "./helpers";

/** The plan's lines for `query` in a room that has its tables. */
async function planOf(room: string, query: string, ...bindings: SqlStorageValue[]): Promise<string[]> {
  return runInDurableObject(env.ROOM.getByName(room), (_: Room, state) =>
    state.storage.sql
      .exec<{ detail: string }>(`EXPLAIN QUERY PLAN ${query}`, ...bindings)
      .toArray()
      .map((row) => row.detail),
  );
}

const scansTheLog = (plan: string[]) => plan.some((line) => /^SCAN m\b|^SCAN messages\b/.test(line));
const sorts = (plan: string[]) => plan.some((line) => /TEMP B-TREE/.test(line));

describe("query plans of the hot queries", () => {
  const room = uniqueRoom("plans");
  const ready = (async () => {
    await setRoomMode(room, "do");
    await post(room, "a room with tables");
  })();

  const cases: [string, string, SqlStorageValue[], RegExp, boolean][] = [
    ["get by id", GET_SQL, ["x"], /SEARCH m USING INDEX sqlite_autoindex_messages_1 \(id=\?\)/, false],
    ["scroll-back page", PAGE_BEFORE_SQL, [10, 5], /SEARCH m USING INTEGER PRIMARY KEY \(rowid<\?\)/, false],
    ["since (catch-up)", AFTER_SQL, [3, 200], /SEARCH m USING INDEX messages_pos \(pos>\?\)/, false],
    ["pending (open human messages)", OPEN_SQL, [1, 1000], /SEARCH m USING INTEGER PRIMARY KEY \(rowid>\?\)/, false],
    ["outbox flush (owed past the watermark)", OWED_SQL, [3], /SEARCH m USING INDEX messages_pos \(pos>\?\)/, false],
    [
      "retention sweep (one mark's seq range)",
      EXPIRED_SQL,
      [1, 65, 0, 9, 0, 500],
      /SEARCH m USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)/,
      false,
    ],
    // A range of seqs, then the newest `limit` by creation time: sorted, but the range is bounded.
    ["mirror (newest by time)", NEWEST_SQL, [1, 200], /SEARCH m USING INTEGER PRIMARY KEY \(rowid>\?\)/, true],
  ];

  for (const [name, query, bindings, reads, sorted] of cases) {
    it(`${name}: ${reads.source}`, async () => {
      await ready;
      const plan = await planOf(room, query, ...bindings);
      expect(
        plan.some((line) => reads.test(line)),
        plan.join(" | "),
      ).toBe(true);
      expect(sorts(plan), plan.join(" | ")).toBe(sorted);
      expect(scansTheLog(plan), plan.join(" | ")).toBe(false);
    });
  }

  it("recent reads the rowid backwards and stops at its limit (no sort)", async () => {
    await ready;
    const plan = await planOf(room, RECENT_SQL, 50);
    // SQLite calls a walk of the rowid from its end with a LIMIT a SCAN; no temp b-tree means no sort of the log.
    expect(plan).toEqual(["SCAN m"]);
  });

  it("a post inserts one row into a table with two indexes every message pays for (and reply_to for replies)", async () => {
    await ready;
    const indexes = await runInDurableObject(env.ROOM.getByName(room), (_: Room, state) =>
      state.storage.sql
        .exec<{ name: string; partial: number }>(
          "SELECT name, partial FROM pragma_index_list('messages') ORDER BY name",
        )
        .toArray(),
    );
    expect(indexes).toEqual([
      { name: "messages_pos", partial: 0 },
      { name: "messages_reply_to", partial: 1 },
      { name: "sqlite_autoindex_messages_1", partial: 0 },
    ]);
  });
});
