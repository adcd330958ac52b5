// `npm run bench:people`: what people in a room cost in SQLite rows written — presence and
// typing frames, reactions, edits — counted by the room itself (its usage counters, the same
// ones the cost bench prices), in a do room of a local `wrangler dev`. Writes
// docs/bench-people.json (or --json FILE), rendered into docs/benchmarks.md.
import type { ServerFrame } from "../src/shared/frames";
import { REACTIONS, type Message } from "../src/shared/message";
import { startLocalWorker, type LocalWorker } from "../scripts/local-worker";
import { resultArgs, runBench, writeResult } from "./lib/result-file";
import { api, putFlags } from "../test/node/support/browser";
import { PEOPLE_TARGETS, type PeopleReport } from "./people-report";

const OPERATIONS = 50;

/** What GET /api/admin/rooms/:room tells of the room, as far as this bench reads it. */
type RoomInspection = { usage: { sqlRowsWritten: number }; outbox: { pending: number } };

async function rowsWritten(worker: LocalWorker, room: string): Promise<number> {
  const { body } = await api<RoomInspection>(worker, `/api/admin/rooms/${room}`, { token: worker.adminToken });
  return body.usage.sqlRowsWritten;
}

async function drained(worker: LocalWorker, room: string): Promise<void> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
    const { body } = await api<RoomInspection>(worker, `/api/admin/rooms/${room}`, { token: worker.adminToken });
    if (body.outbox.pending === 0) return;
  }
  throw new Error(`the outbox of ${room} did not drain`);
}

/** A socket to the room that resolves once it said hello, and counts the frames it got. */
async function socket(worker: LocalWorker, room: string): Promise<{ ws: WebSocket; frames: ServerFrame[] }> {
  const ws = new WebSocket(`${worker.url.replace("http", "ws")}/api/rooms/${room}/ws`);
  const frames: ServerFrame[] = [];
  await new Promise<void>((resolve, reject) => {
    ws.onmessage = (event) => {
      const frame = JSON.parse(String(event.data)) as ServerFrame;
      frames.push(frame);
      if (frame.type === "hello") resolve();
    };
    ws.onerror = () => reject(new Error("socket failed"));
  });
  return { ws, frames };
}

async function measure(worker: LocalWorker, room: string, run: () => Promise<void>): Promise<number> {
  await drained(worker, room);
  const before = await rowsWritten(worker, room);
  await run();
  await drained(worker, room);
  return ((await rowsWritten(worker, room)) - before) / OPERATIONS;
}

async function main(): Promise<void> {
  const { json, command } = resultArgs("bench:people", "docs/bench-people.json");
  const worker = await startLocalWorker();
  try {
    const room = `people-${Date.now().toString(36)}`;
    await putFlags(worker, { defaultMode: "do", doPercent: 0, rooms: {} });
    const editKey = "the-authors-edit-key-0000000001";
    const { body: message } = await api<Message>(worker, "/api/comments", {
      method: "POST",
      body: { room, text: "version 1", editKey },
    });
    const [ana, ben] = [await socket(worker, room), await socket(worker, room)];
    const settle = () => new Promise((r) => setTimeout(r, 400));

    const presence = await measure(worker, room, async () => {
      for (let i = 0; i < OPERATIONS; i++) ana.ws.send(JSON.stringify({ type: "presence", name: `ana ${i}` }));
      await settle();
    });
    const typing = await measure(worker, room, async () => {
      for (let i = 0; i < OPERATIONS; i++) ben.ws.send(JSON.stringify({ type: "typing" }));
      await settle();
    });
    const reaction = await measure(worker, room, async () => {
      for (let i = 0; i < OPERATIONS; i++) {
        const body = {
          room,
          emoji: REACTIONS[i % REACTIONS.length],
          on: true,
          reactorKey: `reactor-${String(i).padStart(20, "0")}`,
        };
        const { status } = await api(worker, `/api/comments/${message.id}/reactions`, { method: "POST", body });
        if (status !== 200) throw new Error(`reaction answered ${status}`);
      }
    });
    const edit = await measure(worker, room, async () => {
      for (let i = 0; i < OPERATIONS; i++) {
        const body = { room, text: `version ${i + 2}`, version: i + 2, editKey };
        const { status } = await api(worker, `/api/comments/${message.id}/edit`, { method: "POST", body });
        if (status !== 200) throw new Error(`edit answered ${status}`);
      }
    });
    ana.ws.close();
    ben.ws.close();

    const report: PeopleReport = {
      kind: "people",
      generatedAt: new Date().toISOString(),
      command,
      operations: OPERATIONS,
      rowsPerOperation: { presence, typing, reaction, edit },
    };
    for (const [kind, rows] of Object.entries(report.rowsPerOperation)) {
      const target = PEOPLE_TARGETS[kind as keyof typeof PEOPLE_TARGETS];
      console.log(
        `${kind}: ${rows} rows written per operation (target ≤ ${target}: ${rows <= target ? "met" : "not met"})`,
      );
    }
    writeResult(json, report);
  } finally {
    await worker.stop();
  }
}

runBench(main);
