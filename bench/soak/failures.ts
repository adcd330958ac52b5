// Failed requests the soak's clients saw, by who saw them and by mode: 5xx answers
// (HTTP, or a socket nack with a 5xx status) and requests with no answer at all (the
// Worker was down). The mode is the one the answer names, else the room's per the book.
import type { PathMode } from "../../src/shared/message";
import type { ModeBook } from "./modes";

export type Side = "writers" | "bots";
export type FailureCounts = { serverErrors: number; noAnswer: number };

const zero = (): FailureCounts => ({ serverErrors: 0, noAnswer: 0 });

export class FailureTally {
  readonly counts: Record<Side, Record<PathMode, FailureCounts>> = {
    writers: { do: zero(), kv: zero() },
    bots: { do: zero(), kv: zero() },
  };

  constructor(private readonly book: ModeBook) {}

  /** `status` 0: no answer. Other statuses below 500 are not failures of the Worker and are ignored. */
  add(side: Side, room: string | null, status: number, mode?: PathMode | null): void {
    if (status !== 0 && status < 500) return;
    const known = mode ?? (room && this.book.rooms.includes(room) ? this.book.current(room) : null);
    // A call that names no room (e.g. the bot's heal) is counted where the answer says, or nowhere.
    if (!known) return;
    this.counts[side][known][status === 0 ? "noAnswer" : "serverErrors"]++;
  }
}
