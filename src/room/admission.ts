// Whether a new human message may make this room bigger: ROOM_MAX_MESSAGES, and
// ROOM_LIMITER for the message that creates the room (counted once per client).
import type { PostLimited } from "../limits/post-limit";
import { limitNewRoom } from "../limits/room-limit";
import type { RoomRefusal } from "./calls";
import type { RoomState } from "./log";

export class RoomAdmission {
  /** ROOM_LIMITER checks in flight, and clients already allowed to create this room (see limitCreation). */
  private readonly creationChecks = new Map<string, Promise<PostLimited | null>>();
  private readonly creationAllowed = new Set<string>();

  constructor(private readonly state: RoomState, private readonly env: Env) {}

  /**
   * One ROOM_LIMITER check per client while the room is new: a burst of first sends (they
   * interleave at the await) creates one room, so it must not count as many creations.
   */
  limitCreation(creator: string): Promise<PostLimited | null> {
    if (this.creationAllowed.has(creator)) return Promise.resolve(null);
    let check = this.creationChecks.get(creator);
    if (!check) {
      check = limitNewRoom(this.env, creator).then(
        (limited) => {
          this.creationChecks.delete(creator);
          if (!limited) this.creationAllowed.add(creator);
          return limited;
        },
        (err: unknown) => {
          // A check that failed decided nothing: the next send asks again.
          this.creationChecks.delete(creator);
          throw err;
        },
      );
      this.creationChecks.set(creator, check);
    }
    return check;
  }

  /** A room that has never had a message: its first one is a room creation (ROOM_LIMITER). */
  isNew(): boolean {
    return !this.state.schema || (!this.state.marked && this.state.log.lastPos() === 0);
  }

  /**
   * ROOM_MAX_MESSAGES reached: new human messages are refused (507) and nothing acknowledged
   * is deleted to make room; replies and heals of messages already acknowledged still land.
   */
  roomFull(): RoomRefusal | null {
    const { maxMessages, retentionMs } = this.state.limits;
    if (!maxMessages || this.state.view.count() < maxMessages) return null;
    const later = retentionMs ? `; space frees up as messages older than ${Math.round(retentionMs / 86_400_000)} days are deleted` : "";
    return { status: 507, error: `room is full: it holds ${maxMessages} messages, the most a room keeps${later}` };
  }
}
