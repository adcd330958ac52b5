// Flips one room every few seconds through the operator flag (PUT /api/admin/flags),
// kv→do or do→kv, steering back to half and half: when the split is even any room may
// flip, otherwise one from the larger side does. A PUT that gets no answer (the Worker
// was killed under it) may or may not have taken effect: the book is then re-read from
// the flag before the next flip.
import { resolveMode } from "../../src/shared/flags";
import type { PathMode } from "../../src/shared/message";
import type { ChatClient } from "../lib/api";
import { now, sleep } from "../lib/time";
import type { ModeBook } from "./modes";
import type { SoakServer } from "./server";

export type FlipRecord = { at: number; room: string; to: PathMode; tookMs: number };

export class Flipper {
  readonly flips: FlipRecord[] = [];
  /** PUTs that failed or got no answer */
  failures = 0;
  private readonly stopper = new AbortController();
  private loop: Promise<void> | null = null;
  private unsure = false;
  private flipWaiters: (() => void)[] = [];
  /** a flip's calls are on their way (a Worker kill now lands mid-flip) */
  inFlight = false;

  constructor(
    private readonly admin: ChatClient,
    private readonly book: ModeBook,
    private readonly server: SoakServer,
    private readonly everyMs: number,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Resolves as the next flip sends its calls. */
  nextFlip(): Promise<void> {
    return new Promise((resolve) => this.flipWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { signal } = this.stopper;
    while (!signal.aborted) {
      await sleep(this.everyMs, signal);
      if (signal.aborted) break;
      await this.server.whenUp();
      try {
        if (this.unsure) await this.resync();
        await this.flipOne();
      } catch {
        this.failures++;
        this.unsure = true;
      }
    }
    // The last PUT may have been cut off by a kill: leave the book as the flag says.
    if (this.unsure)
      await this.server
        .whenUp()
        .then(() => this.resync())
        .catch(() => undefined);
  }

  private async flipOne(): Promise<void> {
    const room = this.pick();
    const to: PathMode = this.book.current(room) === "do" ? "kv" : "do";
    const started = now();
    this.inFlight = true;
    for (const resolve of this.flipWaiters.splice(0)) resolve();
    try {
      await this.admin.setRoomMode(room, to);
    } finally {
      this.inFlight = false;
    }
    const at = now();
    this.book.set(room, to, at);
    this.flips.push({ at, room, to, tookMs: Math.round(at - started) });
  }

  private pick(): string {
    const doRooms = this.book.inMode("do");
    const kvRooms = this.book.inMode("kv");
    const from =
      doRooms.length === kvRooms.length
        ? [...doRooms, ...kvRooms]
        : doRooms.length > kvRooms.length
          ? doRooms
          : kvRooms;
    return from[Math.floor(Math.random() * from.length)]!;
  }

  private async resync(): Promise<void> {
    const flags = await this.admin.flags();
    const at = now();
    for (const room of this.book.rooms) this.book.set(room, resolveMode(flags, room), at);
    this.unsure = false;
  }
}
