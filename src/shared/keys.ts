// KV key names, in one place (docs/architecture.md, "Storage").
export const COMMENT_PREFIX = "comment:";
export const ROOM_PREFIX = "room:";
export const commentKey = (id: string) => `${COMMENT_PREFIX}${id}`;
export const cacheKey = (room: string) => `cache:${room}`;
export const roomKey = (room: string) => `${ROOM_PREFIX}${room}`;
export const FLAGS_KEY = "flags";
