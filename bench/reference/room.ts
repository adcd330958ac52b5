// The bare reference room: what any design with per-message KV records must do per
// message, and nothing more. Per `send` it inserts one SQLite row, puts one KV record
// (`comment:<room>:<id>` → JSON), broadcasts the message to every socket of the room and acks
// the sender. It speaks the real room's frame protocol (src/shared/frames.ts), so the
// bench's one load generator drives both, and the ratio ours/reference shows what our
// guarantees cost over this floor. No flags, no mirror, no claims, no retries.
// `POST /api/comments` is the HTTP floor: the Worker parses the body and makes one RPC
// to the room, which does the same insert, answer and KV put. `POST /api/limit` is one
// call of a rate-limiting binding alone, to show what the binding costs by itself. Its config gives it
// the chat's asset front (assets, Worker first), so HTTP requests cross the same router on both sides.
import { DurableObject } from "cloudflare:workers";
import { PING_FRAME, PONG_FRAME, type ClientFrame, type ServerFrame } from "../../src/shared/frames";
import { MAX_TEXT, MESSAGE_ID_PATTERN, ROOM_PATTERN, newMessageId, type Message } from "../../src/shared/message";

type ReferenceEnv = { ROOM: DurableObjectNamespace<ReferenceRoom>; RECORDS: KVNamespace; LIMITER: RateLimit };

type Row = { seq: number; id: string; author: string; text: string; created_at: number };

type PostBody = { room?: unknown; id?: unknown; text?: unknown; author?: unknown };

export class ReferenceRoom extends DurableObject<ReferenceEnv> {
  constructor(ctx: DurableObjectState, env: ReferenceEnv) {
    super(ctx, env);
    ctx.storage.sql
      .exec(`CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
      author TEXT NOT NULL, text TEXT NOT NULL, created_at INTEGER NOT NULL)`);
    // As the real room: pings are answered by the runtime without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
  }

  override async fetch(request: Request): Promise<Response> {
    const room = new URL(request.url).pathname.split("/")[3] ?? "";
    // The room name rides on the socket so a woken (hibernated) object still knows it.
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server, [room]);
    const lastSeq =
      this.ctx.storage.sql.exec<{ seq: number | null }>(`SELECT MAX(seq) AS seq FROM messages`).one().seq ?? 0;
    send(server, { type: "hello", room, lastPos: lastSeq, lastSeq, mode: "do" });
    return new Response(null, { status: 101, webSocket: client });
  }

  /** The HTTP floor: insert (or find) the message and answer it; its KV record is put after the answer. */
  async post(room: string, id: string, text: string, author: string): Promise<{ message: Message; created: boolean }> {
    const sql = this.ctx.storage.sql;
    const stored = sql.exec<Row>(`SELECT * FROM messages WHERE id = ?`, id).toArray()[0];
    if (stored) return { message: toMessage(room, stored), created: false };
    const row = sql
      .exec<Row>(
        `INSERT INTO messages (id, author, text, created_at) VALUES (?, ?, ?, ?) RETURNING *`,
        id,
        author,
        text,
        Date.now(),
      )
      .one();
    const message = toMessage(room, row);
    // Not awaited: the RPC answers once the row is durable (output gate); the put follows.
    this.env.RECORDS.put(`comment:${message.room}:${id}`, JSON.stringify(message)).catch(() => undefined);
    return { message, created: true };
  }

  override async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    let frame: ClientFrame;
    try {
      frame = JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data)) as ClientFrame;
    } catch {
      return;
    }
    if (frame.type !== "send") return;
    const { id, text, author = "anonymous" } = frame;
    if (!MESSAGE_ID_PATTERN.test(id) || typeof text !== "string" || !text.trim() || text.length > MAX_TEXT) {
      return send(ws, { type: "nack", id: String(id), status: 400, error: "invalid id or text" });
    }
    const room = this.ctx.getTags(ws)[0] ?? "";
    const sql = this.ctx.storage.sql;
    // Same id again: answer the stored message and write nothing (as POST does).
    const stored = sql.exec<Row>(`SELECT * FROM messages WHERE id = ?`, id).toArray()[0];
    if (stored) return send(ws, { type: "ack", id, message: toMessage(room, stored), created: false });
    const row = sql
      .exec<Row>(
        `INSERT INTO messages (id, author, text, created_at) VALUES (?, ?, ?, ?) RETURNING *`,
        id,
        author,
        text,
        Date.now(),
      )
      .one();
    const message = toMessage(room, row);
    // The output gate holds these frames until the row is durable: nothing is pushed or
    // acknowledged that a crash could take back.
    const pushed = JSON.stringify({ type: "message", message } satisfies ServerFrame);
    for (const socket of this.ctx.getWebSockets()) {
      try {
        socket.send(pushed);
      } catch {
        // a closing socket
      }
    }
    send(ws, { type: "ack", id, message, created: true });
    // The KV record, one put per message. Awaited after the ack: KV I/O opens the input
    // gate, so other sends proceed meanwhile; this is the cheapest honest order.
    await this.env.RECORDS.put(`comment:${message.room}:${id}`, JSON.stringify(message));
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    try {
      ws.close(code, reason);
    } catch {
      // already closed
    }
  }
}

const send = (ws: WebSocket, frame: ServerFrame): void => ws.send(JSON.stringify(frame));

const toMessage = (room: string, row: Row): Message => ({
  id: row.id,
  room,
  kind: "human",
  author: row.author,
  text: row.text,
  status: "pending",
  createdAt: row.created_at,
  seq: row.seq,
});

async function postComment(request: Request, env: ReferenceEnv): Promise<Response> {
  let body: PostBody;
  try {
    body = (await request.json()) as PostBody;
  } catch {
    return Response.json({ error: "body must be JSON" }, { status: 400 });
  }
  const { room, text, author = "anonymous" } = body;
  const id = body.id ?? newMessageId();
  if (typeof room !== "string" || !ROOM_PATTERN.test(room) || typeof id !== "string" || !MESSAGE_ID_PATTERN.test(id)) {
    return Response.json({ error: "invalid room or id" }, { status: 400 });
  }
  if (typeof text !== "string" || !text.trim() || text.length > MAX_TEXT || typeof author !== "string") {
    return Response.json({ error: "invalid text or author" }, { status: 400 });
  }
  const { message, created } = await env.ROOM.getByName(room).post(room, id, text, author);
  return Response.json(message, { status: created ? 201 : 200 });
}

// The Worker: the health check startLocalWorker polls, the HTTP post, the limiter probe, and the room's socket.
export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (pathname === "/api/health") return Response.json({ ok: true });
    if (pathname === "/api/comments" && request.method === "POST") return postComment(request, env);
    // One rate-limiter call and nothing else: what the binding costs by itself (the limits scenario).
    if (pathname === "/api/limit" && request.method === "POST")
      return Response.json(await env.LIMITER.limit({ key: "bench" }));
    const room = /^\/api\/rooms\/([^/]+)\/ws$/.exec(pathname)?.[1];
    if (!room || !ROOM_PATTERN.test(room)) return Response.json({ error: "not found" }, { status: 404 });
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket")
      return Response.json({ error: "expected a WebSocket upgrade" }, { status: 426 });
    return env.ROOM.getByName(room).fetch(request);
  },
} satisfies ExportedHandler<ReferenceEnv>;
