// Words for flag documents: why a room has its mode, and what an audit entry changed.
import { roomBucket, type Flags } from "../../shared/flags";
import type { PathMode } from "../../shared/message";

export function modeReason(flags: Flags, room: string): string {
  if (Object.hasOwn(flags.rooms, room)) return "override";
  if (roomBucket(room) < flags.doPercent) return `do percent (bucket ${roomBucket(room)})`;
  return "default";
}

/** Each difference between two flag documents, in words; empty when they are equal. */
export function diffFlags(before: Flags, after: Flags): string[] {
  const changes: string[] = [];
  if (before.defaultMode !== after.defaultMode)
    changes.push(`default mode ${before.defaultMode} → ${after.defaultMode}`);
  if (before.doPercent !== after.doPercent) changes.push(`do percent ${before.doPercent} → ${after.doPercent}`);
  const rooms = [...new Set([...Object.keys(before.rooms), ...Object.keys(after.rooms)])].sort();
  const show = (mode: PathMode | undefined) => mode ?? "no override";
  for (const room of rooms) {
    if (before.rooms[room] !== after.rooms[room])
      changes.push(`room ${room}: ${show(before.rooms[room])} → ${show(after.rooms[room])}`);
  }
  return changes;
}

export function formatPercent(part: number, whole: number): string {
  if (!whole) return "—";
  return `${((part / whole) * 100).toFixed(2)} %`;
}

export function formatMs(ms: number): string {
  if (!ms) return "—";
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}
