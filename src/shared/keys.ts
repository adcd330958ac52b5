// KV key names, in one place (docs/architecture.md, "Storage").
export const COMMENT_PREFIX = "comment:";
export const ROOM_PREFIX = "room:";
/**
 * A message's record, scoped by its room: ids are chosen by clients, so one global key per id
 * would let a post in one room take over another room's record. Room names and ids hold no
 * colon, so the key splits one way only.
 */
export const commentKey = (room: string, id: string) => `${COMMENT_PREFIX}${room}:${id}`;
/** The first version's key, one per id across rooms: only read, as a fallback for records written before. */
export const legacyCommentKey = (id: string) => `${COMMENT_PREFIX}${id}`;
/** The message id a record key names (scoped or legacy). */
export const idOfCommentKey = (key: string) => key.slice(key.lastIndexOf(":") + 1);
export const cacheKey = (room: string) => `cache:${room}`;
export const roomKey = (room: string) => `${ROOM_PREFIX}${room}`;
export const FLAGS_KEY = "flags";
