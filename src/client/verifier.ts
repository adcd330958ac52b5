// The verification layer (docs/architecture.md, "Verification layer"), one copy for
// the page, the bot and the lab's tabs: every acknowledged id stays pending until a
// list or a push shows it; an id a list lacks is healed (POST /api/admin/add-to-cache).
// A heal that gets no answer or a 5xx is tried again with backoff; a 429 pauses every
// heal; a 4xx other than 408/429 is the server's final answer and ends the checks.
import type { HealResponse } from "../shared/api";
import { DELETED_ERROR, type Message } from "../shared/message";
import { HttpError, describeError } from "./http";
import type { PendingId, PendingIds } from "./pending-ids";

/**
 * The first evidence about an id after its acknowledgement: in the first list requested
 * after it ("in"), absent from it although the list's window covers it ("missing"),
 * pushed before any such list ("push"), or older than a full list's window ("out-of-window").
 */
export type FirstCheck = "in" | "missing" | "push" | "out-of-window";
/** What ended the checks of a verified id: a list (poll or catch-up), a push, or a heal that found it there. */
export type VerifiedBy = "poll" | "push" | "heal";

export type VerifierEvents<E extends PendingId> = {
  onFirstCheck?(entry: E, result: FirstCheck): void;
  onVerified?(entry: E, by: VerifiedBy): void;
  /** newer messages pushed it out of a full list: nothing a heal could show; checks end */
  onOutOfWindow?(entry: E): void;
  /** a heal call goes out */
  onHeal?(entry: E): void;
  /** the heal found it missing and put it back; it stays pending until a list shows it */
  onReadded?(entry: E, answer: HealResponse): void;
  /** no answer or a 5xx: healed again after `waitMs` */
  onHealFailed?(entry: E, reason: string, waitMs: number): void;
  /** 429: no heal goes out for `waitMs` */
  onHealsPaused?(waitMs: number): void;
  /** a final 4xx (e.g. 404: the server knows no such id; 410: an operator deleted it): checks end */
  onGaveUp?(entry: E, reason: string, status: number): void;
};

export type VerifierOptions<E extends PendingId> = {
  /** POST /api/admin/add-to-cache for this id; throws HttpError */
  heal(entry: E): Promise<HealResponse>;
  events?: VerifierEvents<E>;
  /** the clock of ackedAt and requestedAt (default Date.now) */
  now?: () => number;
  /** [0, 1) for the backoff's jitter (default Math.random) */
  random?: () => number;
  /**
   * A list counts for an id only when requested this long after its acknowledgement (the
   * bot: one poll, so kv writes in flight when it was stored have landed). Default 0.
   */
  settleMs?: number;
};

/** Heal backoff after no answer or a 5xx: 1 s, 2 s, 4 s… jittered, at most this. */
export const MAX_HEAL_BACKOFF_MS = 60_000;
/** A 429 without Retry-After pauses heals this long. */
const DEFAULT_HEAL_PAUSE_MS = 60_000;
/** Ids seen lately, so an ack that arrives after its own push finds it already seen. */
const SEEN_MEMORY = 5_000;

export class Verifier<E extends PendingId = PendingId> {
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly events: VerifierEvents<E>;
  /** ids whose first check has happened */
  private readonly checked = new Set<string>();
  private readonly healing = new Set<string>();
  private readonly healBackoff = new Map<string, { failures: number; nextAt: number }>();
  private readonly recentlySeen = new Map<string, "poll" | "push">();
  private healsPausedUntil = 0;

  constructor(
    private readonly store: PendingIds<E>,
    private readonly options: VerifierOptions<E>,
  ) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.events = options.events ?? {};
  }

  get size(): number {
    return this.store.list().length;
  }

  pending(room?: string): E[] {
    const all = this.store.list();
    return room === undefined ? all : all.filter((entry) => entry.room === room);
  }

  /** Rooms with pending ids. */
  rooms(): string[] {
    return [...new Set(this.store.list().map((entry) => entry.room))];
  }

  /** Rooms with an id that a list requested now would count for (see settleMs). */
  dueRooms(): string[] {
    const due = this.now() - (this.options.settleMs ?? 0);
    return [
      ...new Set(
        this.store
          .list()
          .filter((entry) => entry.ackedAt <= due)
          .map((entry) => entry.room),
      ),
    ];
  }

  /** An acknowledged message: pending, unless a push or list already showed it (then false). */
  add(entry: E): boolean {
    const seenBy = this.recentlySeen.get(entry.id);
    if (seenBy) {
      this.events.onFirstCheck?.(entry, seenBy === "push" ? "push" : "in");
      this.events.onVerified?.(entry, seenBy);
      return false;
    }
    this.store.add(entry);
    return true;
  }

  /** Ids a push or a catch-up showed are in the room: verified. Returns how many were pending. */
  seen(ids: Iterable<string>, by: "poll" | "push"): number {
    const shown = new Set(ids);
    for (const id of shown) this.remember(id, by);
    const entries = this.store.list().filter((entry) => shown.has(entry.id));
    for (const entry of entries) this.verified(entry, by);
    return entries.length;
  }

  /**
   * `list` is the room's newest `limit` messages, requested at `requestedAt`. A pending id
   * acknowledged before that request (plus settleMs) and absent from the list is missing,
   * unless the list is full and the id older than all of it. A tombstone in the list (a kv
   * room keeps them in place) is the server's final 410: the checks end. Resolves true when
   * a heal put something back, so the caller checks again soon.
   */
  async check(room: string, list: readonly Message[], requestedAt: number, limit: number): Promise<boolean> {
    const deleted = new Set(list.filter((m) => m.deleted).map((m) => m.id));
    const inList = new Set(list.map((m) => m.id));
    for (const id of inList) if (!deleted.has(id)) this.remember(id, "poll");
    const full = list.length >= limit;
    const oldest = Math.min(...list.map((m) => m.createdAt));
    const missing: E[] = [];
    for (const entry of this.pending(room)) {
      if (requestedAt < entry.ackedAt + (this.options.settleMs ?? 0)) continue;
      const first = !this.checked.has(entry.id);
      this.checked.add(entry.id);
      if (deleted.has(entry.id)) {
        if (first) this.events.onFirstCheck?.(entry, "in");
        this.finish(entry);
        this.events.onGaveUp?.(entry, DELETED_ERROR, 410);
      } else if (inList.has(entry.id)) {
        if (first) this.events.onFirstCheck?.(entry, "in");
        this.verified(entry, "poll");
      } else if (full && entry.createdAt < oldest) {
        if (first) this.events.onFirstCheck?.(entry, "out-of-window");
        this.finish(entry);
        this.events.onOutOfWindow?.(entry);
      } else {
        if (first) this.events.onFirstCheck?.(entry, "missing");
        missing.push(entry);
      }
    }
    const readded = await Promise.all(missing.map((entry) => this.heal(entry)));
    return readded.some(Boolean);
  }

  private async heal(entry: E): Promise<boolean> {
    const now = this.now();
    if (
      this.healing.has(entry.id) ||
      now < this.healsPausedUntil ||
      now < (this.healBackoff.get(entry.id)?.nextAt ?? 0)
    )
      return false;
    this.healing.add(entry.id);
    this.events.onHeal?.(entry);
    try {
      const answer = await this.options.heal(entry);
      this.healBackoff.delete(entry.id);
      if (answer.readded) {
        this.events.onReadded?.(entry, answer);
        return true;
      }
      // The server found it already in the room's list: as good as seeing it.
      this.verified(entry, "heal");
      return false;
    } catch (err) {
      this.healFailed(entry, err);
      return false;
    } finally {
      this.healing.delete(entry.id);
    }
  }

  private healFailed(entry: E, err: unknown): void {
    const status = err instanceof HttpError ? err.status : 0;
    if (status === 429) {
      const waitMs = (err as HttpError).retryAfterMs ?? DEFAULT_HEAL_PAUSE_MS;
      this.healsPausedUntil = this.now() + waitMs;
      this.events.onHealsPaused?.(waitMs);
    } else if (status >= 400 && status < 500 && status !== 408) {
      this.finish(entry);
      this.events.onGaveUp?.(entry, describeError(err), status);
    } else {
      const failures = (this.healBackoff.get(entry.id)?.failures ?? 0) + 1;
      const ceiling = Math.min(MAX_HEAL_BACKOFF_MS, 1000 * 2 ** (failures - 1));
      const waitMs = Math.round(ceiling / 2 + this.random() * (ceiling / 2));
      this.healBackoff.set(entry.id, { failures, nextAt: this.now() + waitMs });
      this.events.onHealFailed?.(entry, describeError(err), waitMs);
    }
  }

  private verified(entry: E, by: VerifiedBy): void {
    if (!this.checked.has(entry.id)) this.events.onFirstCheck?.(entry, by === "push" ? "push" : "in");
    this.finish(entry);
    this.events.onVerified?.(entry, by);
  }

  /** Ids an operator deleted (their tombstones were seen): nothing left to verify. */
  forget(ids: Iterable<string>): void {
    const gone = new Set(ids);
    for (const entry of this.pending()) if (gone.has(entry.id)) this.finish(entry);
  }

  /** The checks of this id end. */
  private finish(entry: E): void {
    this.store.remove([entry.id]);
    this.checked.delete(entry.id);
    this.healBackoff.delete(entry.id);
  }

  private remember(id: string, by: "poll" | "push"): void {
    if (this.recentlySeen.has(id)) return;
    this.recentlySeen.set(id, by);
    if (this.recentlySeen.size > SEEN_MEMORY) this.recentlySeen.delete(this.recentlySeen.keys().next().value!);
  }
}
