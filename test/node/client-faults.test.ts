// The shared client under broken connections: an answer cut off mid-body is "no answer"
// (send again with the same id), never a success; a socket whose connection fails is
// reconnected, without recursion and without waiting for a `close` that never comes.
import { createServer, type Server } from "node:http";
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
});
