// The history checker (bench/check): hand-made histories with one anomaly each, caught
// and counted in the right mode; a clean history with concurrency, unknown outcomes and
// late reads that passes with all zeros; and a soak-sized history checked in one go.
import { describe, expect, it } from "vitest";
import { ANOMALY_KINDS, checkHistory, type AnomalyKind, type CheckReport } from "../../bench/check/checker";
import type { Mode, Outcome, Status } from "../../bench/check/history";
import { HistoryRecorder, type ObservationMeta, type ReadMessage } from "../../bench/check/recorder";

type SendExtra = { room?: string; replyTo?: string; status?: number };

/** A history built by hand on a clock that moves only when told. */
class Script {
  t = 1_000;
  readonly rec = new HistoryRecorder(() => this.t);

  tick(ms = 10): this {
    this.t += ms;
    return this;
  }

  send(id: string, mode: Mode | null, outcome: Outcome, extra: SendExtra = {}): this {
    const op = this.rec.invoke({
      type: "send",
      process: "w1",
      room: extra.room ?? "r",
      id,
      kind: extra.replyTo ? "ai" : "human",
      ...(extra.replyTo ? { replyTo: extra.replyTo } : {}),
      mode,
    });
    this.tick();
    op.complete(outcome, { mode, ...(extra.status ? { status: extra.status } : {}) });
    return this.tick();
  }

  heal(id: string, readded: boolean, mode: Mode = "do"): this {
    this.rec.invoke({ type: "heal", process: "w1", room: "r", id }).complete("ok", { mode, readded });
    return this.tick();
  }

  read(reader: string, messages: ReadMessage[], meta: ObservationMeta, room = "r"): this {
    this.rec.observe(reader, room, messages, meta);
    return this.tick();
  }

  check(): CheckReport {
    return checkHistory(this.rec.history());
  }
}

const m = (id: string, fields: Partial<ReadMessage> = {}): ReadMessage => ({
  id,
  kind: "human",
  status: "pending",
  ...fields,
});
const doList: ObservationMeta = { mode: "do", kind: "list" };
const kvList: ObservationMeta = { mode: "kv", kind: "list" };

/** Every anomaly count of the report, by mode and kind, left out where 0. */
function nonZero(report: CheckReport): Record<string, number> {
  const found: Record<string, number> = {};
  for (const mode of ["do", "kv"] as const) {
    for (const kind of ANOMALY_KINDS) {
      const { count } = report.modes[mode].anomalies[kind];
      if (count) found[`${mode}.${kind}`] = count;
    }
  }
  return found;
}

function expectOnly(report: CheckReport, mode: Mode, kind: AnomalyKind, count = 1): void {
  expect(nonZero(report)).toEqual({ [`${mode}.${kind}`]: count });
  expect(report.modes[mode].total).toBe(count);
  expect(report.modes[mode].anomalies[kind].examples.length).toBeGreaterThan(0);
}

/** Message h and two replies to it, acknowledged in the modes given, all three shown by one do list. */
function answeredTwiceInDoLog(human: Mode, first: Mode, second: Mode): Script {
  const s = new Script().send("h", human, "ok");
  s.send("r1", first, "ok", { replyTo: "h" }).send("r2", second, "ok", { replyTo: "h" });
  return s.read(
    "p1",
    [
      m("h", { seq: 1, pos: 4, status: "complete" }),
      m("r1", { kind: "ai", replyTo: "h", seq: 2, pos: 2 }),
      m("r2", { kind: "ai", replyTo: "h", seq: 3, pos: 3 }),
    ],
    doList,
  );
}

describe("checkHistory: one anomaly each", () => {
  it("a do-acknowledged send no reader ever saw is a do lost write", () => {
    const s = new Script()
      .send("a", "do", "ok")
      .send("b", "do", "ok")
      .read("p1", [m("b", { seq: 2, pos: 2 })], doList);
    const report = s.check();
    expectOnly(report, "do", "lostWrites");
    expect(report.modes.do.anomalies.lostWrites.examples[0]!.ids).toEqual(["a"]);
    expect(report.modes.do.acknowledged).toBe(2);
  });

  it("a kv-acknowledged send no reader ever saw is a kv lost write", () => {
    const s = new Script()
      .send("a", "kv", "ok")
      .send("b", "kv", "ok")
      .read("p1", [m("b")], kvList);
    expectOnly(s.check(), "kv", "lostWrites");
  });

  it("do: first shown only after a heal re-added it is lost; kv: the legacy heal is its design", () => {
    const d = new Script().send("a", "do", "ok").read("p1", [], doList).heal("a", true);
    d.read("p1", [m("a", { seq: 1, pos: 1 })], doList);
    const report = d.check();
    expectOnly(report, "do", "lostWrites");
    expect(report.modes.do.anomalies.lostWrites.examples[0]!.detail).toContain("heal");
    const k = new Script().send("a", "kv", "ok").read("p1", [], kvList).heal("a", true, "kv");
    k.read("p1", [m("a")], kvList);
    expect(nonZero(k.check())).toEqual({});
  });

  it("do: shown during the run but missing from a later whole-log read is lost", () => {
    const s = new Script()
      .send("a", "do", "ok")
      .send("b", "do", "ok")
      .read("p1", [m("a", { seq: 1, pos: 1 }), m("b", { seq: 2, pos: 2 })], doList)
      .read("audit", [m("b", { seq: 2, pos: 2 })], { mode: "do", kind: "changes", complete: true });
    expectOnly(s.check(), "do", "lostWrites");
  });

  it("do: missing from a kv list read after a flip is lost, unless the full list's window passed it", () => {
    const lost = new Script()
      .send("a", "do", "ok")
      .read("p1", [m("a", { seq: 1, pos: 1, createdAt: 1 })], doList)
      .read("p2", [m("k", { createdAt: 2 })], kvList)
      .send("k", "kv", "ok");
    expectOnly(lost.check(), "do", "lostWrites");
    expect(lost.check().modes.do.anomalies.lostWrites.examples[0]!.detail).toContain("kv list");
    // A full kv list whose oldest entry is newer: pushed out by newer messages, not lost.
    const full = Array.from({ length: 200 }, (_, i) => m(`n${i}`, { createdAt: 100 + i }));
    const pushedOut = new Script().send("a", "do", "ok").read("p1", [m("a", { seq: 1, pos: 1, createdAt: 1 })], doList);
    for (const entry of full) pushedOut.send(entry.id, "kv", "ok");
    pushedOut.read("p2", full, kvList);
    expect(nonZero(pushedOut.check())).toEqual({});
    // A healed old message at the end of a full list does not move its window: 199 newer entries
    // and an old one leave room for "a", so its absence is a loss.
    const healedOld = [m("old", { createdAt: 0 }), ...full.slice(1)];
    const lostAgain = new Script().send("a", "do", "ok").read("p1", [m("a", { seq: 1, pos: 1, createdAt: 1 })], doList);
    for (const entry of healedOld) lostAgain.send(entry.id, "kv", "ok");
    lostAgain.read("p2", healedOld, kvList);
    expectOnly(lostAgain.check(), "do", "lostWrites");
    // Stamped in the same millisecond as an entry that stayed: the list's first of the two left first.
    const tied = [m("twin", { createdAt: 1 }), ...full.slice(1)];
    const pushedOutTied = new Script()
      .send("a", "do", "ok")
      .read("p1", [m("a", { seq: 1, pos: 1, createdAt: 1 })], doList);
    for (const entry of tied) pushedOutTied.send(entry.id, "kv", "ok");
    pushedOutTied.read("p2", tied, kvList);
    expect(nonZero(pushedOutTied.check())).toEqual({});
  });

  it("do: a read that lacks a write proves it lost only if sent after the acknowledgement", () => {
    const kvListSent = (sentAt: number): ObservationMeta => ({ ...kvList, sentAt });
    // "a" is acknowledged at 1010; the kv list answers at 1030 whenever it was sent.
    const shown = (sentAt: number) =>
      new Script()
        .send("a", "do", "ok")
        .read("p1", [m("a", { seq: 1, pos: 1, createdAt: 1 })], doList)
        .read("p2", [m("k", { createdAt: 2 })], kvListSent(sentAt))
        .send("k", "kv", "ok")
        .check().modes.do.anomalies.lostWrites;
    expect(shown(1005).count).toBe(0);
    expect(shown(1015).examples[0]!.detail).toContain("kv list");
  });

  it("an id twice in one do list is a do duplicate; a kv list showing it twice is kv's", () => {
    const d = new Script().send("a", "do", "ok");
    d.read("p1", [m("a", { seq: 1, pos: 1 }), m("a", { seq: 1, pos: 1 })], doList);
    expectOnly(d.check(), "do", "duplicates");
    const k = new Script().send("a", "do", "ok").read("p1", [m("a"), m("a")], kvList);
    expectOnly(k.check(), "kv", "duplicates");
  });

  it("an id shown whose send was refused with a 4xx is an aborted read, in the mode that refused it", () => {
    const s = new Script().send("a", "do", "fail", { status: 400 }).read("p1", [m("a", { seq: 1, pos: 1 })], doList);
    expectOnly(s.check(), "do", "abortedReads");
    expect(s.check().ops).toMatchObject({ sends: 1, ok: 0, fail: 1 });
  });

  it("an id shown that nobody sent is a phantom, in the mode of the read", () => {
    const s = new Script().send("a", "kv", "ok").read("p1", [m("a"), m("ghost")], kvList);
    expectOnly(s.check(), "kv", "phantoms");
  });

  it("two readers seeing two do messages in opposite orders is a do order anomaly", () => {
    const s = new Script()
      .send("a", "do", "ok")
      .send("b", "do", "ok")
      .read("p1", [m("a", { seq: 1, pos: 1 }), m("b", { seq: 2, pos: 2 })], doList)
      .read("p2", [m("b", { seq: 2, pos: 2 }), m("a", { seq: 1, pos: 1 })], doList);
    expectOnly(s.check(), "do", "orderAnomalies");
  });

  it("two kv lists showing two messages in opposite orders is a kv order anomaly", () => {
    const s = new Script().send("a", "kv", "ok").send("b", "kv", "ok");
    s.read("p1", [m("a"), m("b")], kvList).read("p2", [m("b"), m("a")], kvList);
    expectOnly(s.check(), "kv", "orderAnomalies");
  });

  it("a do message's change position going backwards for one reader is a do order anomaly", () => {
    const s = new Script()
      .send("a", "do", "ok")
      .read("s1", [m("a", { seq: 1, pos: 5 })], { mode: "do", kind: "push" })
      .read("s1", [m("a", { seq: 1, pos: 3 })], { mode: "do", kind: "push" });
    expectOnly(s.check(), "do", "orderAnomalies");
  });

  it("a room's change position going backwards between one reader's lists is a do order anomaly", () => {
    const s = new Script()
      .send("a", "do", "ok")
      .read("p1", [m("a", { seq: 1, pos: 1 })], { ...doList, lastPos: 7 })
      .read("p1", [m("a", { seq: 1, pos: 1 })], { ...doList, lastPos: 4 });
    expectOnly(s.check(), "do", "orderAnomalies");
  });

  it("a message shown pending after complete to one reader is a status regression, by the read's mode", () => {
    const d = new Script()
      .send("a", "do", "ok")
      .read("p1", [m("a", { seq: 1, pos: 3, status: "complete" })], doList)
      .read("p1", [m("a", { seq: 1, pos: 3, status: "pending" })], doList);
    expectOnly(d.check(), "do", "statusRegressions");
    const k = new Script().send("a", "do", "ok");
    k.read("p1", [m("a", { status: "complete" })], kvList).read("p1", [m("a")], kvList);
    expectOnly(k.check(), "kv", "statusRegressions");
  });

  it("two acknowledged replies to one message are a double answer: do's when do acknowledged both", () => {
    expectOnly(answeredTwiceInDoLog("do", "do", "do").check(), "do", "doubleAnswers");
    const k = new Script().send("h", "kv", "ok");
    k.send("r1", "kv", "ok", { replyTo: "h" }).send("r2", "kv", "ok", { replyTo: "h" });
    const reply = (id: string) => m(id, { kind: "ai", replyTo: "h" });
    k.read("p1", [m("h", { status: "complete" }), reply("r1"), reply("r2")], kvList);
    expectOnly(k.check(), "kv", "doubleAnswers");
  });

  it("a do log that takes a reply while another stood earlier in it is do's double answer", () => {
    expectOnly(answeredTwiceInDoLog("kv", "kv", "do").check(), "do", "doubleAnswers");
  });

  it("a refused second reply is the room doing its job, not a double answer", () => {
    const s = new Script().send("h", "do", "ok");
    s.send("r1", "do", "ok", { replyTo: "h" }).send("r2", "do", "fail", { replyTo: "h", status: 409 });
    s.read(
      "p1",
      [m("h", { seq: 1, pos: 3, status: "complete" }), m("r1", { kind: "ai", replyTo: "h", seq: 2, pos: 2 })],
      doList,
    );
    expect(nonZero(s.check())).toEqual({});
  });

  it("a message's mode is the one that acknowledged it: a kv message duplicated in a do list is kv's", () => {
    const s = new Script().send("a", "kv", "ok");
    s.read("p1", [m("a", { seq: 1, pos: 1 }), m("a", { seq: 1, pos: 1 })], doList);
    expectOnly(s.check(), "kv", "duplicates");
  });
});

describe("checkHistory: a clean history", () => {
  it("passes with all zeros: overlapping sends, unknown outcomes, late and partial reads, flips, heals", () => {
    const s = new Script();
    const { rec } = s;
    // Two sends in flight at once, completing in the other order.
    const a = rec.invoke({ type: "send", process: "w1", room: "r", id: "a", kind: "human", mode: "do" });
    s.tick();
    const b = rec.invoke({ type: "send", process: "w2", room: "r", id: "b", kind: "human", mode: "do" });
    s.tick();
    // A reader sees b before either send completed (it was applied, the ack not yet back).
    s.read("s1", [m("b", { seq: 1, pos: 1 })], { mode: "do", kind: "push" });
    b.complete("ok", { mode: "do" });
    s.tick();
    a.complete("ok", { mode: "do" });
    // A timeout: unknown; it was applied after all (shown), and that is allowed.
    const c = rec.invoke({ type: "send", process: "w3", room: "r", id: "c", kind: "human", mode: "do" });
    c.complete("info", { status: 503 });
    // A send cut off by the end of the run: never completed, unknown, never shown.
    rec.invoke({ type: "send", process: "w4", room: "r", id: "d", kind: "human", mode: "do" });
    // A refused send nobody shows.
    s.send("e", "do", "fail", { status: 400 });
    s.read("s1", [m("a", { seq: 2, pos: 2 })], { mode: "do", kind: "push" });
    s.read("s1", [m("c", { seq: 3, pos: 3 })], { mode: "do", kind: "push" });
    s.heal("a", false);
    // The bot claims b, a claim is released (processing → pending is allowed), then it is answered.
    s.read("s1", [m("b", { seq: 1, pos: 4, status: "processing" })], { mode: "do", kind: "push" });
    s.read("s1", [m("b", { seq: 1, pos: 5, status: "pending" })], { mode: "do", kind: "push" });
    s.send("ai1", "do", "ok", { replyTo: "b" });
    s.read("s1", [m("ai1", { kind: "ai", replyTo: "b", seq: 4, pos: 6 })], { mode: "do", kind: "push" });
    s.read("s1", [m("b", { seq: 1, pos: 7, status: "complete" })], { mode: "do", kind: "push" });
    const all = (bStatus: Status, bPos: number) => [
      m("b", { seq: 1, pos: bPos, status: bStatus }),
      m("a", { seq: 2, pos: 2 }),
      m("c", { seq: 3, pos: 3 }),
      m("ai1", { kind: "ai", replyTo: "b", seq: 4, pos: 6 }),
    ];
    s.read("p1", all("complete", 7), { ...doList, lastPos: 7 });
    // A late reader: an older state after another reader saw the newer one is no regression.
    s.read("p2", all("pending", 5), { ...doList, lastPos: 6 });
    s.read("p2", all("complete", 7), { ...doList, lastPos: 7 });
    // The room flips to kv: kv lists carry no positions; kv sends are kv's.
    s.send("k1", "kv", "ok");
    s.send("k2", "kv", "ok");
    s.read("p1", [m("a"), m("c"), m("k1"), m("k2")], kvList);
    // A kv message lost by the race and healed is the legacy design, not a do loss.
    s.send("k3", "kv", "ok")
      .read("p1", [m("a"), m("c"), m("k1"), m("k2")], kvList)
      .heal("k3", true, "kv");
    s.read("p1", [m("a"), m("c"), m("k1"), m("k2"), m("k3")], kvList);
    // Window: a kv message shown once and scrolled out later is not lost.
    s.send("k4", "kv", "ok")
      .read("p2", [m("k2"), m("k3"), m("k4")], kvList)
      .read("p2", [m("k3")], kvList);
    // Another room, in kv the whole time, read by its own reader.
    s.send("x1", "kv", "ok", { room: "x" }).read("px", [m("x1")], kvList, "x");
    // The end: every reader once more, and the whole log in change order.
    const end = [
      m("a", { seq: 2, pos: 2 }),
      m("c", { seq: 3, pos: 3 }),
      m("ai1", { kind: "ai", replyTo: "b", seq: 4, pos: 6 }),
      m("b", { seq: 1, pos: 7, status: "complete" }),
      m("k1", { seq: 5, pos: 8 }),
      m("k2", { seq: 6, pos: 9 }),
      m("k3", { seq: 7, pos: 10 }),
      m("k4", { seq: 8, pos: 11 }),
    ];
    s.read(
      "p1",
      [...end].sort((x, y) => x.seq! - y.seq!),
      { ...doList, lastPos: 11 },
    );
    s.read("audit", end, { mode: "do", kind: "changes", complete: true, lastPos: 11 });

    const report = s.check();
    expect(nonZero(report)).toEqual({});
    expect(report.modes.do.total + report.modes.kv.total).toBe(0);
    expect(report.modes.do.acknowledged).toBe(3);
    expect(report.modes.kv.acknowledged).toBe(5);
    expect(report.ops).toEqual({ sends: 11, ok: 8, fail: 1, info: 2, heals: 2, readded: 1 });
    expect(report.readers).toBe(5);
  });
});

describe("checkHistory: size", () => {
  it("checks a clean history of 20,000 sends read by 200 readers in one pass", () => {
    const rooms = 20;
    const perRoom = 1_000;
    const readersPerRoom = 10;
    let t = 0;
    const rec = new HistoryRecorder(() => t);
    for (let r = 0; r < rooms; r++) {
      const room = `room-${r}`;
      const mode: Mode = r % 2 ? "kv" : "do";
      const log: ReadMessage[] = [];
      let pos = 0;
      const listMeta = (): ObservationMeta => ({ mode, kind: "list", ...(mode === "do" ? { lastPos: pos } : {}) });
      for (let i = 0; i < perRoom; i++) {
        t++;
        const id = `${room}-m${i}`;
        const op = rec.invoke({ type: "send", process: `w${r}-${i % 10}`, room, id, kind: "human", mode });
        log.push({ id, kind: "human", status: "pending", ...(mode === "do" ? { seq: i + 1, pos: ++pos } : {}) });
        // Each message is finished when the fifth after it is sent: a new change position.
        const done = log[i - 5];
        if (done) log[i - 5] = { ...done, status: "complete", ...(mode === "do" ? { pos: ++pos } : {}) };
        op.complete(i % 97 === 0 ? "info" : "ok", { mode });
        // Readers take turns reading the newest 200, every few sends.
        if (i % 5 === 4) {
          const reader = `${room}-reader-${Math.floor(i / 5) % readersPerRoom}`;
          rec.observe(reader, room, log.slice(-200), listMeta());
        }
      }
      for (let k = 0; k < readersPerRoom; k++) rec.observe(`${room}-reader-${k}`, room, log.slice(-200), listMeta());
    }
    const history = rec.history();
    const started = performance.now();
    const report = checkHistory(history);
    const ms = performance.now() - started;
    const shown = history.observations.reduce((sum, read) => sum + read.messages.length, 0);
    const n = (x: number) => x.toLocaleString("en-US");
    const sizes = `${n(history.ops.length)} ops, ${n(history.observations.length)} reads (${n(shown)} messages shown)`;
    console.log(`checked ${sizes} by ${report.readers} readers in ${Math.round(ms)} ms`);
    expect(history.ops.length).toBe(20_000);
    expect(report.readers).toBe(200);
    expect(nonZero(report)).toEqual({});
  });
});
