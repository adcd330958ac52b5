// The soak's Worker: one local `wrangler dev` on a fixed port and a state directory of
// its own, killed with SIGKILL (its whole process group: wrangler and workerd, as a
// crash would) and started again on the same port and the same state, so clients
// reconnect to the same URL and every acknowledged do-mode write must still be there.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startLocalWorker, type LocalWorker } from "../../scripts/local-worker";
import { now, sleep } from "../lib/time";

export type ServerKill = { at: number; downMs: number; restartAttempts: number; duringFlip: boolean };

export class SoakServer {
  readonly kills: ServerKill[] = [];
  private worker: LocalWorker | null = null;
  private upWaiters: (() => void)[] = [];
  private tokens = { admin: "", bot: "" };
  /** An interrupted run leaves no state behind (the Worker's own exit hook has killed it by then). */
  private readonly removeState = () => rmSync(this.persistTo, { recursive: true, force: true });

  private constructor(
    readonly port: number,
    private readonly persistTo: string,
    private readonly vars: Record<string, string>,
  ) {}

  static async start(vars: Record<string, string>): Promise<SoakServer> {
    const server = new SoakServer(await freePort(), mkdtempSync(join(tmpdir(), "soak-state-")), vars);
    process.once("exit", server.removeState);
    await server.boot();
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  /** The tokens stay the same across restarts (startLocalWorker's defaults). */
  get adminToken(): string {
    return this.tokens.admin;
  }
  get botToken(): string {
    return this.tokens.bot;
  }
  get up(): boolean {
    return this.worker !== null;
  }

  /** Resolves once the Worker answers (at once when it does now). */
  whenUp(): Promise<void> {
    return this.worker ? Promise.resolve() : new Promise((resolve) => this.upWaiters.push(resolve));
  }

  /** SIGKILL to wrangler's process group, then the same port and state again. `duringFlip`: for the record. */
  async crashAndRestart(duringFlip = false): Promise<ServerKill> {
    const worker = this.requireWorker();
    const at = now();
    this.worker = null;
    process.kill(-worker.process.pid!, "SIGKILL");
    // Reaps the group and forgets its exit hook; the state directory is ours and stays.
    await worker.stop();
    const restartAttempts = await this.boot();
    const kill = { at, downMs: Math.round(now() - at), restartAttempts, duringFlip };
    this.kills.push(kill);
    return kill;
  }

  /** Ends the Worker and removes its state. */
  async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    await worker?.stop();
    process.off("exit", this.removeState);
    this.removeState();
  }

  private async boot(): Promise<number> {
    // The killed workerd may hold the port for a moment.
    for (let attempt = 1; ; attempt++) {
      try {
        this.worker = await startLocalWorker({ port: this.port, persistTo: this.persistTo, vars: this.vars });
        this.tokens = { admin: this.worker.adminToken, bot: this.worker.botToken };
        for (const resolve of this.upWaiters.splice(0)) resolve();
        return attempt;
      } catch (err) {
        if (attempt >= 5) throw err;
        await sleep(1_000 * attempt);
      }
    }
  }

  private requireWorker(): LocalWorker {
    if (!this.worker) throw new Error("the soak's Worker is not running");
    return this.worker;
  }
}
