// KV key names, in one place (see DESIGN.md "Storage").
export const commentKey = (id: string) => `comment:${id}`;
export const cacheKey = (room: string) => `cache:${room}`;
export const roomKey = (room: string) => `room:${room}`;
export const ROOM_PREFIX = "room:";
export const FLAGS_KEY = "flags";
