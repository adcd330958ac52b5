// The shared client under broken connections: an answer cut off mid-body is "no answer"
// (send again with the same id), never a success; a socket whose connection fails is
// reconnected, without recursion and without waiting for a `close` that never comes; one
// that opens but never says hello is given up and reconnected.
import { createServer, type Server } from "node:http";
import { createHash } from "node:crypto";
import type { Duplex } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { HttpError, requestJson } from "../../src/client/http";
import { LiveSocket } from "../../src/client/live-socket";
import { freePort } from "../../scripts/local-worker";

const servers: Server[] = [];
const sockets: LiveSocket[] = [];
afterEach(async () => {
  sockets.splice(0).forEach((s) => s.stop());
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
}

describe("requestJson", () => {
  it("reports a 201 whose body is cut off as no answer (status 0), not as a success", async () => {
    const url = await serve((_req, res) => {
      res.writeHead(201, { "content-type": "application/json", "content-length": "200" });
      res.write('{"id":"1795700000000-abcdefg","te');
      res.socket?.destroy(); // the Worker died mid-answer
    });
    const error = await requestJson(url).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(0);
    expect((error as HttpError).unavailable).toBe(true);
  });

  it("reports a 200 without a JSON body as no answer", async () => {
    const url = await serve((_req, res) => res.writeHead(200).end());
    const error = await requestJson(url).catch((err: unknown) => err);
    expect((error as HttpError).status).toBe(0);
  });
});

describe("LiveSocket", () => {
  it("reconnects after a failed connection, without recursing and without a close event", async () => {
    const port = await freePort(); // nothing listens there
    let connects = 0;
    let errors = 0;
    const socket = new LiveSocket(`ws://127.0.0.1:${port}/api/rooms/lobby/ws`, {
      onFrame: () => undefined,
      onStatus: () => undefined,
      onTraffic: (event) => {
        if (event === "connect") connects++;
        if (event === "error") errors++;
      },
    });
    sockets.push(socket);
    socket.start();
    const deadline = Date.now() + 10_000;
    while (connects < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(connects).toBeGreaterThanOrEqual(2);
    expect(errors).toBeLessThanOrEqual(connects); // one error per failed attempt, no storm
  });

  it("gives up a socket that opened but brought no hello, and connects again", async () => {
    // A server that accepts every socket (the 101 handshake) and never speaks: a half-open connection as the page sees it.
    const server = createServer();
    servers.push(server);
    const accepted: number[] = [];
    const closed: number[] = [];
    const raw: Duplex[] = [];
    server.on("upgrade", (req, socket: Duplex) => {
      raw.push(socket);
      const accept = createHash("sha1")
        .update(`${String(req.headers["sec-websocket-key"])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
        .digest("base64");
      socket.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      accepted.push(Date.now());
      // The client's first frame can only be its close (it pings only after a hello): opcode 8.
      socket.on("data", (data: Buffer) => {
        if ((data[0]! & 0x0f) === 0x8) closed.push(Date.now());
        socket.destroy();
      });
      socket.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    const statuses: boolean[] = [];
    const socket = new LiveSocket(
      `ws://127.0.0.1:${port}/api/rooms/lobby/ws`,
      { onFrame: () => undefined, onStatus: (open) => statuses.push(open) },
      300,
    );
    sockets.push(socket);
    try {
      socket.start();
      const deadline = Date.now() + 10_000;
      while (accepted.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(accepted.length).toBeGreaterThanOrEqual(2);
      // The client closed the first socket, the deadline after it opened, before it connected again.
      expect(closed[0]).toBeDefined();
      expect(closed[0]! - accepted[0]!).toBeGreaterThanOrEqual(250);
      expect(closed[0]!).toBeLessThanOrEqual(accepted[1]!);
      expect(socket.open).toBe(false);
      expect(statuses).not.toContain(true);
    } finally {
      socket.stop();
      for (const s of raw) s.destroy();
    }
  });
});
