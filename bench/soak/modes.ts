// Which mode each soak room was in, and since when: the flag as the soak last set it.
// Messages carry the mode that acknowledged them (socket ack or X-Cache-Mode); this book
// is for what has no such answer (a 5xx, a missing answer) and for the kv audit, which
// needs to know when a room's kv phase ended.
import type { PathMode } from "../../src/shared/message";
import { now } from "../lib/time";

type Change = { at: number; mode: PathMode };

export class ModeBook {
  private readonly timelines = new Map<string, Change[]>();

  /** `room` is in `mode` from `at` on (a flip counts from when its PUT was answered). */
  set(room: string, mode: PathMode, at = now()): void {
    const timeline = this.timelines.get(room) ?? [];
    if (timeline.at(-1)?.mode === mode) return;
    timeline.push({ at, mode });
    this.timelines.set(room, timeline);
  }

  get rooms(): string[] {
    return [...this.timelines.keys()];
  }

  current(room: string): PathMode {
    return this.timeline(room).at(-1)!.mode;
  }

  /** The mode at `at` (before the first setting: the first mode). */
  modeAt(room: string, at: number): PathMode {
    const timeline = this.timeline(room);
    return (timeline.findLast((change) => change.at <= at) ?? timeline[0]!).mode;
  }

  /** The rooms now in `mode`. */
  inMode(mode: PathMode): string[] {
    return this.rooms.filter((room) => this.current(room) === mode);
  }

  /** When the kv phase that `at` falls in ended (the room went to do), or Infinity if it has not. */
  kvPhaseEnd(room: string, at: number): number {
    const next = (this.timelines.get(room) ?? []).find((change) => change.at > at && change.mode === "do");
    return next?.at ?? Number.POSITIVE_INFINITY;
  }

  /** Changes after the first setting of each room: the flips. */
  get flips(): number {
    return [...this.timelines.values()].reduce((sum, timeline) => sum + Math.max(0, timeline.length - 1), 0);
  }

  private timeline(room: string): Change[] {
    const timeline = this.timelines.get(room);
    if (!timeline?.length) throw new Error(`room ${room} has no mode yet`);
    return timeline;
  }
}
