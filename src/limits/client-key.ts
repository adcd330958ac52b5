// Who a limit counts against: one key per client, from `cf-connecting-ip`. An IPv6
// client usually holds a whole /64, so it counts as its /64, not as one address.
import { commaSet } from "./comma-set";

/** Requests without `cf-connecting-ip` (Cloudflare always sets it; tests and internal calls lack it) share one key. */
export const UNKNOWN_CLIENT = "unknown";

/** The key of an address: IPv4 as is, IPv6 as its /64 (`2001:db8:0:1::/64`); also accepts such a key. */
export function clientKey(address: string | null | undefined): string {
  const raw = (address ?? "").trim().toLowerCase();
  if (!raw) return UNKNOWN_CLIENT;
  if (!raw.includes(":")) return raw.slice(0, 64);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(raw);
  if (mapped) return mapped[1]!;
  const prefix = ipv6Prefix(raw.replace(/%.*$/, "").replace(/\/64$/, ""));
  return prefix ? `${prefix}::/64` : raw.slice(0, 64);
}

/** The first four groups of an IPv6 address, without leading zeros; null if it is not one. */
function ipv6Prefix(address: string): string | null {
  const halves = address.split("::");
  if (halves.length > 2) return null;
  const groups = (half: string | undefined) => (half ? half.split(":") : []);
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  // An embedded IPv4 tail (…:1.2.3.4) fills the last two groups.
  const ipv4Tail = (tail.at(-1) ?? head.at(-1) ?? "").includes(".") ? 1 : 0;
  const missing = 8 - head.length - tail.length - ipv4Tail;
  const full = halves.length === 2 ? [...head, ...Array<string>(Math.max(missing, 0)).fill("0"), ...tail] : head;
  const first = full.slice(0, 4);
  if (first.length < 4 || !first.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  return first.map((g) => parseInt(g, 16).toString(16)).join(":");
}

const exemptKeys = commaSet(clientKey);

/** RATE_LIMIT_EXEMPT: addresses or keys exempt from the post limit and the per-client socket cap. */
export const isExempt = (env: Pick<Env, "RATE_LIMIT_EXEMPT">, key: string): boolean =>
  exemptKeys(env.RATE_LIMIT_EXEMPT).has(key);

/** The key of the client that sent this request. */
export const requestClientKey = (request: Request): string => clientKey(request.headers.get("cf-connecting-ip"));
