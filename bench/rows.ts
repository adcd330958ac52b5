// `npm run bench:rows`: SQLite rows written per change in a do room of a local `wrangler dev`,
// by table and, for the message table, its row apart from its index entries: the room's own
// per-table counters (GET /api/admin/rooms/:room) around each kind of change, once the room's
// outbox has drained (so the KV bookkeeping a change causes is counted with it). Writes
// docs/bench-rows.json (or --json FILE), rendered into docs/benchmarks.md.
import type { Message } from "../src/shared/message";
import { startLocalWorker, type LocalWorker } from "../scripts/local-worker";
import { resultArgs, runBench, writeResult } from "./lib/result-file";
import { api, putFlags } from "../test/node/support/browser";
import {
  OPERATIONS,
  ROWS_TARGETS,
  rowsTable,
  type Operation,
  type RowsPerOperation,
  type RowsReport,
} from "./rows-report";

const OPERATIONS_EACH = 40;

type Inspection = {
  usage: { alarmsSet: number };
  rowsWrittenBy: Record<string, { rows: number; statements: number }>;
  outbox: { pending: number };
};
type Counts = { byTable: Record<string, { rows: number; statements: number }>; alarmsSet: number };

async function inspect(worker: LocalWorker, room: string): Promise<Inspection> {
  const { status, body } = await api<Inspection>(worker, `/api/admin/rooms/${room}`, { token: worker.adminToken });
  if (status !== 200) throw new Error(`inspect ${room} answered ${status}`);
  return body;
}

async function drained(worker: LocalWorker, room: string): Promise<Counts> {
  for (const deadline = Date.now() + 15_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
    const body = await inspect(worker, room);
    if (body.outbox.pending === 0) return { byTable: body.rowsWrittenBy, alarmsSet: body.usage.alarmsSet };
  }
  throw new Error(`the outbox of ${room} did not drain`);
}

/** Rows written per operation by `run` (which performs `count` operations), once the outbox drained. */
async function measure(worker: LocalWorker, room: string, count: number, run: () => Promise<void>) {
  const before = await drained(worker, room);
  await run();
  const after = await drained(worker, room);
  const byTable: Record<string, number> = {};
  let messageStatements = 0;
  for (const [table, { rows, statements }] of Object.entries(after.byTable)) {
    const was = before.byTable[table] ?? { rows: 0, statements: 0 };
    if (rows > was.rows) byTable[table] = (rows - was.rows) / count;
    if (table === "messages") messageStatements = (statements - was.statements) / count;
  }
  const messages = byTable.messages ?? 0;
  const result: RowsPerOperation = {
    byTable,
    // Every statement on the message table writes one row (by id); what it wrote beyond it is index entries.
    messageRow: messageStatements,
    messageIndexEntries: messages - messageStatements,
    total: Object.values(byTable).reduce((sum, rows) => sum + rows, 0),
    alarmsSet: (after.alarmsSet - before.alarmsSet) / count,
  };
  return result;
}

async function ok<T>(worker: LocalWorker, path: string, body: unknown, token?: string): Promise<T> {
  const answer = await api<T>(worker, path, { method: "POST", body, ...(token ? { token } : {}) });
  if (answer.status >= 300) throw new Error(`${path} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

async function socket(worker: LocalWorker, room: string): Promise<WebSocket> {
  const ws = new WebSocket(`${worker.url.replace("http", "ws")}/api/rooms/${room}/ws`);
  await new Promise<void>((resolve, reject) => {
    ws.onmessage = (event) => {
      if ((JSON.parse(String(event.data)) as { type: string }).type === "hello") resolve();
    };
    ws.onerror = () => reject(new Error("socket failed"));
  });
  return ws;
}

async function main(): Promise<void> {
  const { json, command } = resultArgs("bench:rows", "docs/bench-rows.json");
  const worker = await startLocalWorker();
  const n = OPERATIONS_EACH;
  try {
    const room = `rows-${Date.now().toString(36)}`;
    await putFlags(worker, { defaultMode: "do", doPercent: 0, rooms: {} });
    const bot = worker.botToken;
    const postOne = (text: string, extra: Record<string, unknown> = {}) =>
      ok<Message>(worker, "/api/comments", { room, text, ...extra });
    // The room's first message writes its marker once; not what a message costs.
    await postOne("the first message");
    const rows: Partial<Record<Operation, RowsPerOperation>> = {};
    const posted: Message[] = [];
    rows.post = await measure(worker, room, n, async () => {
      for (let i = 0; i < n; i++) {
        posted.push(await postOne(`one at a time ${i}`));
        await drained(worker, room);
      }
    });
    rows.burst = await measure(worker, room, n, async () => {
      await Promise.all(Array.from({ length: n }, (_, i) => postOne(`burst ${i}`)));
    });
    const claimAll = () =>
      Promise.all(posted.map((m) => ok(worker, "/api/bot/claim", { room, messageId: m.id, botId: "bench" }, bot)));
    rows.claim = await measure(worker, room, n, async () => void (await claimAll()));
    rows.renewal = await measure(worker, room, n, async () => void (await claimAll()));
    rows.release = await measure(worker, room, n, async () => {
      for (const m of posted) await ok(worker, "/api/bot/release", { room, messageId: m.id, botId: "bench" }, bot);
    });
    await claimAll();
    const [toFail, toAnswer] = [posted.slice(0, n / 2), posted.slice(n / 2)];
    rows.fail = await measure(worker, room, toFail.length, async () => {
      for (const m of toFail) {
        await ok(worker, "/api/bot/fail", { room, messageId: m.id, botId: "bench", reason: "bench" }, bot);
        await drained(worker, room);
      }
    });
    rows.reply = await measure(worker, room, toAnswer.length, async () => {
      for (const m of toAnswer) {
        const reply = { room, kind: "ai", replyTo: m.id, botId: "bench", text: "an answer", author: "bot" };
        await ok(worker, "/api/comments", reply, bot);
        await drained(worker, room);
      }
    });
    const editKey = "the-authors-edit-key-0000000001";
    const edited = await postOne("version 1", { editKey });
    rows.edit = await measure(worker, room, n, async () => {
      for (let i = 0; i < n; i++) {
        const body = { room, text: `version ${i + 2}`, version: i + 2, editKey };
        await ok(worker, `/api/comments/${edited.id}/edit`, body);
        await drained(worker, room);
      }
    });
    rows.reaction = await measure(worker, room, n, async () => {
      for (let i = 0; i < n; i++) {
        const body = { room, emoji: "👍", on: true, reactorKey: `reactor-${String(i).padStart(20, "0")}` };
        await ok(worker, `/api/comments/${edited.id}/reactions`, body);
      }
    });
    const [ana, ben] = [await socket(worker, room), await socket(worker, room)];
    const settle = () => new Promise((r) => setTimeout(r, 400));
    rows.presence = await measure(worker, room, n, async () => {
      for (let i = 0; i < n; i++) ana.send(JSON.stringify({ type: "presence", name: `ana ${i}` }));
      await settle();
    });
    rows.typing = await measure(worker, room, n, async () => {
      for (let i = 0; i < n; i++) ben.send(JSON.stringify({ type: "typing" }));
      await settle();
    });
    ana.close();
    ben.close();

    const report: RowsReport = {
      kind: "rows",
      generatedAt: new Date().toISOString(),
      command,
      operations: n,
      rows: rows as RowsReport["rows"],
    };
    console.log(rowsTable(report));
    for (const op of Object.keys(OPERATIONS) as Operation[]) {
      const total = report.rows[op]!.total;
      if (total > ROWS_TARGETS[op] + 1e-9) console.log(`${op}: ${total} rows, over its target ${ROWS_TARGETS[op]}`);
    }
    writeResult(json, report);
  } finally {
    await worker.stop();
  }
}

runBench(main);
