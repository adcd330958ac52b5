// Locally an idle Durable Object is evicted after about 10 s, and its usage counters (in
// memory) restart with it. The shared objects are idle by design while rooms talk, so a
// window's counts would be cut short. Reading GET /api/admin/stats every 2 s keeps them in
// memory; the read itself counts as no call (their usage() and report() count nothing).
import type { ChatClient } from "./api";

const EVERY_MS = 2_000;

/** Polls the stats until the returned function is called. */
export function keepSharedObjectsAwake(admin: ChatClient): () => void {
  let stopped = false;
  const loop = async () => {
    while (!stopped) {
      await admin.stats().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, EVERY_MS));
    }
  };
  void loop();
  return () => {
    stopped = true;
  };
}
