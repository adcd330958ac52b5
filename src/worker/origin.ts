// Which pages may open room sockets. Browsers send `Origin` on every WebSocket
// handshake and sockets are not bound by CORS, so without this any site could hold
// sockets (and send messages) from its visitors' browsers. Bots and the lab send no
// Origin and are allowed; limits still count them by address.
import { StatusError } from "itty-router";
import { commaSet } from "../limits/comma-set";

const allowedOrigins = commaSet((entry) => entry.replace(/\/+$/, "").toLowerCase());

/** Throws 403 unless the request has no Origin, comes from the Worker's own origin, or from ALLOWED_ORIGINS. */
export function requireAllowedOrigin(request: Request, env: Pick<Env, "ALLOWED_ORIGINS">): void {
  const origin = request.headers.get("origin");
  if (origin === null) return;
  const normalized = origin.trim().toLowerCase();
  if (normalized === new URL(request.url).origin.toLowerCase()) return;
  if (allowedOrigins(env.ALLOWED_ORIGINS).has(normalized)) return;
  throw new StatusError(
    403,
    `origin ${origin.slice(0, 200)} may not open room sockets (allowed: this site and ALLOWED_ORIGINS)`,
  );
}
