// After a socket run against our Worker: how far the room's outbox (the KV records of
// messages acknowledged over the socket) lagged behind, and whether every acknowledged
// message has its KV record once the outbox drained. The admin route answers
//   GET /api/admin/rooms/<room> → { room, count, lastSeq, active, outbox: { pending, flushed, failures, lagMs } }
import { ChatClient, HttpError } from "../lib/api";
import { mapLimit } from "../lib/load";
import { sleep } from "../lib/time";
import { requestJson } from "../../src/client/http";

type OutboxState = {
  pending: number;
  flushed: number;
  failures: number;
  lagMs: { p50: number; p99: number; max: number; samples: number };
};
type RoomAdmin = { room: string; count: number; lastSeq: number; active: boolean; outbox: OutboxState };

export type OutboxResult = {
  /** messages in the room's log, as the admin route counts them (the acked ids should all be among them) */
  roomCount: number | null;
  /** records not yet written when the run ended */
  pendingAtRunEnd: number | null;
  /** ms until pending was 0 (null: not within the wait, or no answer) */
  drainedInMs: number | null;
  /** the outbox as the room reported it after the wait: lag from ack to the KV record written */
  outbox: OutboxState | null;
  recordsChecked: number;
  recordsMissing: number;
  recordErrors: number;
  /** the admin route failed, or a record read did */
  error?: string;
};

export type OutboxOptions = { drainWaitMs: number; concurrency: number };

export async function outboxRecords(
  url: string,
  adminToken: string,
  room: string,
  ackedIds: string[],
  options: OutboxOptions,
): Promise<OutboxResult> {
  let roomCount: number | null = null;
  const inspect = async () => {
    const { body } = await requestJson<RoomAdmin>(`${url}/api/admin/rooms/${encodeURIComponent(room)}`, {
      token: adminToken,
      timeoutMs: 10_000,
    });
    roomCount = body.count;
    return body.outbox;
  };
  let error: string | undefined;
  let outbox: OutboxState | null = null;
  let pendingAtRunEnd: number | null = null;
  let drainedInMs: number | null = null;
  const started = performance.now();
  try {
    outbox = await inspect();
    pendingAtRunEnd = outbox.pending;
    while (outbox.pending > 0 && performance.now() - started < options.drainWaitMs) {
      await sleep(250);
      outbox = await inspect();
    }
    if (outbox.pending === 0) drainedInMs = Math.round(performance.now() - started);
  } catch (err) {
    // Still check the records: a missing admin route must not hide a lost record.
    error = `GET /api/admin/rooms/${room}: ${err instanceof HttpError ? `${err.status} ${err.message}` : (err as Error).message}`;
  }

  // record=1: the Worker answers the message's KV record in this room itself.
  const reader = new ChatClient(url);
  let missing = 0;
  let failed = 0;
  await mapLimit(ackedIds, options.concurrency, async (id) => {
    try {
      if ((await reader.record(id, room)) === null) missing++;
    } catch (err) {
      failed++;
      error ??= `GET /api/comments/${id}: ${(err as Error).message}`;
    }
  });
  return {
    roomCount,
    pendingAtRunEnd,
    drainedInMs,
    outbox,
    recordsChecked: ackedIds.length,
    recordsMissing: missing,
    recordErrors: failed,
    ...(error ? { error } : {}),
  };
}
