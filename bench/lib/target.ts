// The Worker a run talks to: the one at --url, or a fresh local `wrangler dev`
// on a free loopback port (fresh state), stopped when the run ends.
import { startLocalWorker, type LocalWorkerOptions } from "../../scripts/local-worker";

export type Target = {
  url: string;
  adminToken: string;
  botToken?: string;
  /** true when this run started the Worker itself */
  local: boolean;
  stop(): Promise<void>;
};

export type TargetOptions = { url?: string; adminToken?: string; botToken?: string; worker?: LocalWorkerOptions };

export async function openTarget(options: TargetOptions, log: (line: string) => void): Promise<Target> {
  if (options.url) {
    if (!options.adminToken) throw new UsageError("--url needs the admin token: pass --admin-token or set ADMIN_TOKEN");
    const url = options.url.replace(/\/+$/, "");
    const res = await fetch(`${url}/api/health`).catch((err: Error) => {
      throw new UsageError(`${url} does not answer: ${err.message}`);
    });
    if (!res.ok) throw new UsageError(`${url}/api/health answered ${res.status}`);
    return {
      url,
      adminToken: options.adminToken,
      botToken: options.botToken,
      local: false,
      stop: async () => undefined,
    };
  }
  log("Starting a local Worker (wrangler dev on a free 127.0.0.1 port)…");
  const worker = await startLocalWorker(options.worker);
  log(`Local Worker at ${worker.url}`);
  return {
    url: worker.url,
    adminToken: worker.adminToken,
    botToken: worker.botToken,
    local: true,
    stop: () => worker.stop(),
  };
}

/** Bad options: printed as one line with exit code 2. */
export class UsageError extends Error {}
