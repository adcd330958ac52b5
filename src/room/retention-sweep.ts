// Retention, run by the room's alarm: messages older than ROOM_RETENTION_DAYS are
// deleted (with their claims) a batch at a time, oldest first.
import { MIRROR_INTERVAL_MS } from "./outbox";
import type { RoomState } from "./log";

/** Messages retention deletes per alarm run at most: a long backlog goes a batch a second. */
export const RETENTION_BATCH = 500;
/** When everything past the retention is kept for now (leased, or the latest change), look again this much later. */
const RETENTION_RECHECK_MS = 3_600_000;

/** Deletes one batch; answers when to look again (null: retention off, or nothing logged). `deleted` hears which went. */
export function enforceRetention(state: RoomState, now: number, deleted: (ids: string[]) => void): number | null {
  const { retentionMs } = state.limits;
  if (!retentionMs) return null;
  const ids = state.log.expired(now - retentionMs, now, RETENTION_BATCH);
  if (ids.length) {
    state.transaction(() => state.log.remove(ids));
    deleted(ids);
    console.log(JSON.stringify({ event: "retention", room: state.roomName, deleted: ids.length }));
  }
  if (ids.length === RETENTION_BATCH) return now + MIRROR_INTERVAL_MS;
  const oldest = state.log.oldestCreatedAt();
  if (oldest === null) return null;
  return oldest + retentionMs > now ? oldest + retentionMs : now + RETENTION_RECHECK_MS;
}
