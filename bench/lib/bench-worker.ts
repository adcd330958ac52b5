// A local `wrangler dev` whose state survives a restart, so a benchmark can stop it,
// seed its storage directly, and start it again on the same state.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalWorker, type LocalWorker } from "../../scripts/local-worker";

export class BenchWorker {
  readonly persistTo = mkdtempSync(join(tmpdir(), "lossless-chat-bench-"));
  private worker: LocalWorker | null = null;

  /** `vars`: `[vars]` overrides for every start (see startLocalWorker). */
  constructor(private readonly vars: Record<string, string> = {}) {}

  get url(): string {
    return this.live.url;
  }
  get adminToken(): string {
    return this.live.adminToken;
  }
  get botToken(): string {
    return this.live.botToken;
  }
  /** wrangler's process id (workerd runs under it) */
  get pid(): number | undefined {
    return this.live.process.pid;
  }
  private get live(): LocalWorker {
    if (!this.worker) throw new Error("the bench Worker is not running");
    return this.worker;
  }

  async start(): Promise<void> {
    this.worker = await startLocalWorker({ persistTo: this.persistTo, vars: this.vars });
  }

  async stop(): Promise<void> {
    await this.worker?.stop();
    this.worker = null;
  }

  /** Stops the Worker, runs `whileStopped` on its state, starts it again (on a new port). */
  async restart(whileStopped: () => void | Promise<void> = () => undefined): Promise<void> {
    await this.stop();
    await whileStopped();
    await this.start();
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.persistTo, { recursive: true, force: true });
  }
}
