// Records a history (./history.ts) as a run goes: invoke an operation, complete it once
// with its outcome; observe what a reader read. An operation never completed ends the
// run as info (unknown), as Jepsen counts a client that crashed mid-call.
import type { History, HealOp, Mode, Observation, Observed, Outcome, SendOp, Status } from "./history";

type Answered = "invokeAt" | "completeAt" | "outcome" | "mode";
export type SendInvocation = Omit<SendOp, Answered | "status"> & { mode?: Mode | null };
export type HealInvocation = Omit<HealOp, Answered | "readded"> & { mode?: Mode | null };

export type Completion = {
  /** ok: the mode that acknowledged it; else the mode a refusal named */
  mode?: Mode | null;
  status?: number;
  /** heals: the answer's readded */
  readded?: boolean;
};

export type Invoked = {
  /** The first completion counts; later ones are ignored. */
  complete(outcome: Outcome, details?: Completion): void;
};

/** What a reader read of one message: the shared Message fits. */
export type ReadMessage = {
  id: string;
  kind: "human" | "ai";
  status: Status;
  replyTo?: string;
  seq?: number;
  pos?: number;
  createdAt?: number;
};

export type ObservationMeta = Pick<Observation, "mode" | "kind"> &
  Partial<Pick<Observation, "lastPos" | "complete" | "at" | "sentAt">>;

export class HistoryRecorder {
  private readonly ops: (SendOp | HealOp)[] = [];
  private readonly observations: Observation[] = [];
  private readonly completed = new Set<number>();
  /** One string per id: a soak reads the same ids hundreds of times. */
  private readonly ids = new Map<string, string>();

  constructor(private readonly clock: () => number = Date.now) {}

  invoke(op: SendInvocation | HealInvocation): Invoked {
    const index = this.ops.length;
    const invokeAt = this.clock();
    const mode = op.mode ?? null;
    const id = this.intern(op.id);
    this.ops.push(
      op.type === "send"
        ? { ...op, id, invokeAt, completeAt: null, outcome: "info", mode }
        : { ...op, id, invokeAt, completeAt: null, outcome: "info", mode, readded: null },
    );
    return {
      complete: (outcome, details = {}) => {
        if (this.completed.has(index)) return;
        this.completed.add(index);
        const recorded = this.ops[index]!;
        recorded.completeAt = this.clock();
        recorded.outcome = outcome;
        if (details.mode !== undefined && details.mode !== null) recorded.mode = details.mode;
        if (recorded.type === "send" && details.status !== undefined) recorded.status = details.status;
        if (recorded.type === "heal") recorded.readded = details.readded ?? null;
      },
    };
  }

  observe(reader: string, room: string, messages: readonly ReadMessage[], meta: ObservationMeta): void {
    this.observations.push({
      reader,
      room,
      at: meta.at ?? this.clock(),
      ...(meta.sentAt === undefined ? {} : { sentAt: meta.sentAt }),
      mode: meta.mode,
      kind: meta.kind,
      ...(meta.lastPos === undefined ? {} : { lastPos: meta.lastPos }),
      ...(meta.complete ? { complete: true } : {}),
      messages: messages.map((m) => this.observed(m)),
    });
  }

  get size(): { ops: number; observations: number } {
    return { ops: this.ops.length, observations: this.observations.length };
  }

  /** The history so far (the recorder's own arrays: take it when the run is over). */
  history(): History {
    return { version: 1, ops: this.ops, observations: this.observations };
  }

  private observed(m: ReadMessage): Observed {
    const seen: Observed = { id: this.intern(m.id), kind: m.kind, status: m.status };
    if (m.replyTo !== undefined) seen.replyTo = this.intern(m.replyTo);
    if (m.seq !== undefined) seen.seq = m.seq;
    if (m.pos !== undefined) seen.pos = m.pos;
    if (m.createdAt !== undefined) seen.createdAt = m.createdAt;
    return seen;
  }

  private intern(id: string): string {
    const known = this.ids.get(id);
    if (known !== undefined) return known;
    this.ids.set(id, id);
    return id;
  }
}
