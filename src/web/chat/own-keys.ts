// What this browser holds to act on messages without an account: the edit key of each message
// it posted (the room keeps only a hash, so whoever holds the key is the author), one random
// reactor key, and the reactions it gave. All in localStorage, shared by the browser's tabs.
import type { Reaction } from "../../shared/message";

const EDIT_KEYS = "editKeys";
const REACTOR_KEY = "reactorKey";
const MY_REACTIONS = "myReactions";
/** Keys of the newest this many own messages are kept; older messages are rarely edited. */
const KEEP = 500;

/** A random key of 32 url-safe characters (192 bits). */
export function randomKey(): string {
  const bytes = new Uint8Array(24);
  crypto.getRandomValues(bytes);
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_");
}

function readJson<T>(key: string, fallback: T): T {
  try {
    return (JSON.parse(localStorage.getItem(key) ?? "null") as T | null) ?? fallback;
  } catch {
    return fallback;
  }
}

export class OwnKeys {
  /** The edit key for a message this browser is about to post. */
  newEditKey(id: string): string {
    const keys = readJson<[string, string][]>(EDIT_KEYS, []);
    const key = randomKey();
    localStorage.setItem(EDIT_KEYS, JSON.stringify([...keys, [id, key]].slice(-KEEP)));
    return key;
  }

  editKey(id: string): string | null {
    return readJson<[string, string][]>(EDIT_KEYS, []).find(([known]) => known === id)?.[1] ?? null;
  }

  reactorKey(): string {
    let key = localStorage.getItem(REACTOR_KEY);
    if (!key) {
      key = randomKey();
      localStorage.setItem(REACTOR_KEY, key);
    }
    return key;
  }

  reactions(id: string): Reaction[] {
    return readJson<string[]>(MY_REACTIONS, [])
      .filter((r) => r.startsWith(`${id} `))
      .map((r) => r.slice(id.length + 1) as Reaction);
  }

  setReaction(id: string, emoji: Reaction, on: boolean): void {
    const entry = `${id} ${emoji}`;
    const all = readJson<string[]>(MY_REACTIONS, []).filter((r) => r !== entry);
    localStorage.setItem(MY_REACTIONS, JSON.stringify((on ? [...all, entry] : all).slice(-KEEP * 4)));
  }
}
