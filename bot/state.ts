// The bot's pending ids (the verifier's persistence hook, src/client/pending-ids.ts),
// persisted so a restarted bot keeps verifying. Each change rewrites the file atomically (temp file, then rename): a crash leaves
// either the old list or the new one, never half a file.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import type { PendingId, PendingIds } from "../src/client/pending-ids";
import { MESSAGE_ID_PATTERN, ROOM_PATTERN } from "../src/shared/message";

const entrySchema = z.object({
  id: z.string().regex(MESSAGE_ID_PATTERN),
  room: z.string().regex(ROOM_PATTERN),
  replyTo: z.string().regex(MESSAGE_ID_PATTERN),
  /** when the Worker acknowledged it */
  addedAt: z.number(),
  /** the reply's createdAt; files written before it was kept lack it (then addedAt stands in) */
  createdAt: z.number().optional(),
});
const fileSchema = z.object({ version: z.literal(1), pending: z.array(entrySchema) });

/** An acknowledged AI reply not yet seen in its room's cache. */
export type PendingReply = PendingId & { replyTo: string };

export class StateFileError extends Error {}

export class PendingStore implements PendingIds<PendingReply> {
  private readonly entries = new Map<string, PendingReply>();

  private constructor(readonly file: string) {}

  static load(file: string): PendingStore {
    const store = new PendingStore(file);
    if (!existsSync(file)) return store;
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      throw new StateFileError(`state file ${file} is not valid JSON (${(err as Error).message}); fix or remove it`);
    }
    const parsed = fileSchema.safeParse(data);
    if (!parsed.success) throw new StateFileError(`state file ${file} has an unexpected shape; fix or remove it`);
    for (const { addedAt, createdAt, ...entry } of parsed.data.pending)
      store.entries.set(entry.id, { ...entry, ackedAt: addedAt, createdAt: createdAt ?? addedAt });
    return store;
  }

  get size(): number {
    return this.entries.size;
  }

  list(): PendingReply[] {
    return [...this.entries.values()];
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  add(entry: PendingReply): void {
    this.entries.set(entry.id, entry);
    this.flush();
  }

  remove(ids: Iterable<string>): string[] {
    const removed = [...ids].filter((id) => this.entries.delete(id));
    if (removed.length) this.flush();
    return removed;
  }

  flush(): void {
    mkdirSync(dirname(this.file), { recursive: true });
    const temp = `${this.file}.${process.pid}.tmp`;
    const pending = this.list().map(({ ackedAt, ...entry }) => ({ ...entry, addedAt: ackedAt }));
    writeFileSync(temp, `${JSON.stringify({ version: 1, pending }, null, 2)}\n`);
    renameSync(temp, this.file);
  }
}
