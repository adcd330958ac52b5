// The room's one Durable Object alarm. Every deadline (owed KV writes, the mirror,
// retention, a stream's lease) asks for it; the earliest asked for stands, and the alarm
// run sets the next.
import type { Usage } from "../storage/usage";

export class AlarmSchedule {
  private at: number | null = null;

  constructor(private readonly storage: DurableObjectStorage, private readonly usage: Usage) {}

  /** On wake: the alarm already set, if any. */
  async load(): Promise<boolean> {
    this.at = await this.storage.getAlarm();
    return this.at !== null;
  }

  /** What this schedule believes is set, and how to put it back (a rolled-back transaction undoes its setAlarm). */
  save(): () => void {
    const at = this.at;
    return () => {
      this.at = at;
    };
  }

  /** The alarm is running: nothing is set until someone asks again. */
  fired(): void {
    this.at = null;
  }

  async schedule(at: number): Promise<void> {
    if (this.at !== null && this.at <= at) return;
    const before = this.at;
    this.at = at;
    this.usage.count("alarmsSet");
    try {
      await this.storage.setAlarm(at);
    } catch (err) {
      // Not set: a later, earlier-or-equal deadline must not think it is.
      if (this.at === at) this.at = before;
      throw err;
    }
  }
}
