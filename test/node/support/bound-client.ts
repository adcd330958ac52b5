// HTTP requests and WebSockets from a chosen loopback address (127.0.0.2, 127.0.0.3, …),
// so one machine stands for several people: `wrangler dev` reports each connection's
// address as cf-connecting-ip, the client key the limits count. fetch and Node's
// WebSocket cannot bind a local address, so the socket speaks RFC 6455 itself: text,
// close and ping frames, which is all a room sends.
import { createHash, randomBytes } from "node:crypto";
import { request } from "node:http";
import type { Socket } from "node:net";

export type BoundResponse = { status: number; headers: Record<string, string | string[] | undefined>; body: string };

/** One HTTP request from `localAddress`; the whole answer. */
export function requestFrom(
  localAddress: string,
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<BoundResponse> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method: init.method ?? "GET",
        headers: init.headers,
        localAddress,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(init.body);
  });
}

export type Closed = { code: number; reason: string };

export type BoundSocket = {
  /** every text frame received, in order */
  frames: string[];
  /** resolves once the server closed the socket (1006 when it ended without a close frame) */
  closed: Promise<Closed>;
  isClosed(): boolean;
  sendText(text: string): void;
  /** waits (10 s at most) for a received text frame that matches */
  next(match: (text: string) => boolean): Promise<string>;
  close(): void;
};

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** A masked client frame (RFC 6455 §5.2). */
function frame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const length = payload.length;
  const head =
    length < 126
      ? Buffer.from([0x80 | opcode, 0x80 | length])
      : length < 65_536
        ? Buffer.from([0x80 | opcode, 0x80 | 126, length >> 8, length & 0xff])
        : Buffer.concat([
            Buffer.from([0x80 | opcode, 0x80 | 127]),
            (() => {
              const b = Buffer.alloc(8);
              b.writeBigUInt64BE(BigInt(length));
              return b;
            })(),
          ]);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ mask[i % 4]!;
  return Buffer.concat([head, mask, body]);
}

/** Opens a WebSocket to `url` (ws://) from `localAddress`; rejects with the status if the upgrade is refused. */
export function openSocketFrom(
  localAddress: string,
  url: string,
  headers: Record<string, string> = {},
): Promise<BoundSocket> {
  const target = new URL(url);
  const key = randomBytes(16).toString("base64");
  return new Promise((resolve, reject) => {
    const req = request({
      host: target.hostname,
      port: target.port,
      path: target.pathname + target.search,
      localAddress,
      headers: {
        "connection": "Upgrade",
        "upgrade": "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": key,
        ...headers,
      },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      res.resume();
      reject(new Error(`upgrade refused with ${res.statusCode}`));
    });
    req.on("upgrade", (res, socket: Socket, head: Buffer) => {
      const accept = createHash("sha1")
        .update(key + WS_GUID)
        .digest("base64");
      if (res.headers["sec-websocket-accept"] !== accept) {
        socket.destroy();
        reject(new Error("bad Sec-WebSocket-Accept"));
        return;
      }
      resolve(wrap(socket, head));
    });
    req.end();
  });
}

function wrap(socket: Socket, head: Buffer): BoundSocket {
  const frames: string[] = [];
  const waiters = new Set<() => void>();
  const wake = () => waiters.forEach((w) => w());
  let closedWith: Closed | null = null;
  let onClosed!: (closed: Closed) => void;
  const closed = new Promise<Closed>((resolve) => (onClosed = resolve));
  const finish = (result: Closed) => {
    if (closedWith) return;
    closedWith = result;
    onClosed(result);
    wake();
  };

  let buffer = Buffer.alloc(0);
  let fragments: Buffer[] = [];
  const read = (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      if (buffer.length < 2) return;
      const fin = (buffer[0]! & 0x80) !== 0;
      const opcode = buffer[0]! & 0x0f;
      let length = buffer[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffer.length < 4) return;
        length = buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffer.length < 10) return;
        length = Number(buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (buffer.length < offset + length) return;
      const payload = buffer.subarray(offset, offset + length);
      buffer = buffer.subarray(offset + length);
      if (opcode === 0x1 || opcode === 0x0) {
        fragments.push(payload);
        if (fin) {
          frames.push(Buffer.concat(fragments).toString("utf8"));
          fragments = [];
          wake();
        }
      } else if (opcode === 0x8) {
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        finish({ code, reason: payload.subarray(2).toString("utf8") });
        if (!socket.destroyed) socket.end(frame(0x8, payload.subarray(0, 2)));
      } else if (opcode === 0x9) {
        socket.write(frame(0xa, payload));
      }
    }
  };
  socket.on("data", read);
  socket.on("close", () => finish({ code: 1006, reason: "" }));
  socket.on("error", () => finish({ code: 1006, reason: "" }));
  if (head.length) read(head);

  return {
    frames,
    closed,
    isClosed: () => closedWith !== null,
    sendText: (text) => socket.write(frame(0x1, Buffer.from(text, "utf8"))),
    async next(match) {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const found = frames.find(match);
        if (found !== undefined) return found;
        if (closedWith)
          throw new Error(
            `socket closed (${closedWith.code} ${closedWith.reason}) before a matching frame; got ${frames.join(" ")}`,
          );
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching frame in 10 s; got ${frames.join(" ")}`);
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            waiters.delete(done);
            resolve();
          };
          const timer = setTimeout(done, left);
          waiters.add(done);
        });
      }
    },
    close() {
      if (socket.destroyed) return;
      socket.end(frame(0x8, Buffer.from([0x03, 0xe8])));
      // The server answers with its close and ends the connection; this only bounds a server that does not.
      setTimeout(() => socket.destroy(), 1000).unref();
    },
  };
}
