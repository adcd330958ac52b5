// The page's room socket: the shared client (src/client/live-socket.ts) at this page's origin.
import { LiveSocket, type LiveEvents } from "../../client/live-socket";

export function roomSocket(room: string, events: LiveEvents): LiveSocket {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return new LiveSocket(`${scheme}://${location.host}/api/rooms/${encodeURIComponent(room)}/ws`, events);
}

export type { LiveSocket };
