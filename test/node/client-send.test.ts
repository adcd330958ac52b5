// The page's sending rules without a server: which path a message takes (socket or
// HTTP), what each ack, nack or silence leads to, and that every retry keeps the id.
// Fake timers stand in for the 5 s answer timeout and the backoff waits.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { HttpError } from "../../src/client/http";
import { MAX_SERVER_ERRORS, sendUntilAnswered, type OutgoingMessage } from "../../src/client/send-until-answered";
import { SOCKET_ANSWER_WITHIN_MS, SocketSender } from "../../src/client/socket-send";
import type { SendFrame, ServerFrame } from "../../src/shared/frames";
import type { Message } from "../../src/shared/message";

const outgoing: OutgoingMessage = { id: "1761938419272-bkf6kq2ca", room: "unit-room", text: "hello", author: "ada" };
const stored: Message = {
  ...outgoing,
  author: "ada",
  kind: "human",
  status: "pending",
  createdAt: 1761938419300,
  seq: 1,
};
const ack = (id = outgoing.id): ServerFrame => ({ type: "ack", id, message: { ...stored, id }, created: true });
const nack = (fields: Partial<Extract<ServerFrame, { type: "nack" }>>): ServerFrame => ({
  type: "nack",
  id: outgoing.id,
  status: 400,
  error: "refused",
  ...fields,
});

/** A socket whose frames the test answers by hand. */
function fakeSocket(open = true) {
  const sent: SendFrame[] = [];
  const link = { open, send: (frame: SendFrame) => link.open && sent.push(frame) > 0 };
  return { link, sent, sender: new SocketSender(link) };
}

/** Lets the loop's awaited promises run, without moving the clock. */
const settle = () => vi.advanceTimersByTimeAsync(0);

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe("SocketSender", () => {
  it("answers each send with the ack or nack carrying its id, and ignores other frames", async () => {
    const { sender, sent } = fakeSocket();
    const first = sender.send({ type: "send", id: "a", text: "one" });
    const second = sender.send({ type: "send", id: "b", text: "two" });
    expect(sent.map((f) => f.id)).toEqual(["a", "b"]);
    expect(sender.receive({ type: "pong" })).toBe(false);
    expect(sender.receive(nack({ id: "b", status: 413 }))).toBe(true);
    expect(sender.receive(ack("a"))).toBe(true);
    expect(await first).toMatchObject({ type: "ack", id: "a" });
    expect(await second).toMatchObject({ type: "nack", id: "b", status: 413 });
  });

  it("gives no answer when the socket drops, when the room stays silent, or when it is not open", async () => {
    const { sender, link } = fakeSocket();
    const dropped = sender.send({ type: "send", id: "a", text: "one" });
    sender.dropped();
    expect(await dropped).toEqual({ type: "no-answer", reason: "the socket closed" });

    const silent = sender.send({ type: "send", id: "b", text: "two" });
    let answered = false;
    void silent.then(() => (answered = true));
    await vi.advanceTimersByTimeAsync(SOCKET_ANSWER_WITHIN_MS - 1);
    expect(answered).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await silent).toEqual({ type: "no-answer", reason: "no answer over the socket" });
    // A late ack for a send that stopped waiting is harmless.
    expect(sender.receive(ack("b"))).toBe(true);

    link.open = false;
    expect(await sender.send({ type: "send", id: "c", text: "three" })).toEqual({
      type: "no-answer",
      reason: "the socket is not open",
    });
  });
});

describe("sendUntilAnswered", () => {
  it("sends over the socket when the room takes sends there, and never posts", async () => {
    const { sender, sent } = fakeSocket();
    const post = vi.fn<(m: OutgoingMessage) => Promise<Message>>();
    const result = sendUntilAnswered(outgoing, { socket: () => sender, post });
    expect(sent).toEqual([{ type: "send", id: outgoing.id, text: "hello", author: "ada" }]);
    sender.receive(ack());
    expect(await result).toEqual({ acked: true, message: stored, via: "socket" });
    expect(post).not.toHaveBeenCalled();
  });

  it("posts over HTTP when there is no socket to send on", async () => {
    const post = vi.fn(async () => stored);
    expect(await sendUntilAnswered(outgoing, { socket: () => null, post })).toEqual({
      acked: true,
      message: stored,
      via: "http",
    });
    expect(post).toHaveBeenCalledWith(outgoing);
  });

  it("posts at once, with the same id, when the room answers that it left do mode", async () => {
    const { sender } = fakeSocket();
    const post = vi.fn(async () => stored);
    const onRetry = vi.fn();
    const result = sendUntilAnswered(outgoing, { socket: () => sender, post }, { onRetry });
    sender.receive(nack({ status: 409, error: "room is not in do mode; use the kv path", mode: "kv" }));
    expect(await result).toMatchObject({ acked: true, via: "http" });
    expect(post).toHaveBeenCalledWith(outgoing);
    expect(onRetry).not.toHaveBeenCalled();
  });

  it("gives a refusal back as final, with the server's text, and does not send again", async () => {
    const { sender, sent } = fakeSocket();
    const post = vi.fn<(m: OutgoingMessage) => Promise<Message>>();
    const result = sendUntilAnswered(outgoing, { socket: () => sender, post });
    sender.receive(nack({ status: 400, error: "text: at most 4000 characters" }));
    expect(await result).toEqual({ acked: false, reason: "text: at most 4000 characters", rejected: true });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sent).toHaveLength(1);
    expect(post).not.toHaveBeenCalled();
  });

  it("waits out a 429 nack's retryAfter (seconds), then sends the same id again", async () => {
    const { sender, sent } = fakeSocket();
    const onRetry = vi.fn();
    const result = sendUntilAnswered(outgoing, { socket: () => sender, post: vi.fn() }, { onRetry });
    sender.receive(nack({ status: 429, error: "slow down", retryAfter: 2 }));
    await settle();
    // Reported as slowing down, not as a fault: the page keeps the message and says "slow down".
    expect(onRetry).toHaveBeenCalledWith("slow down", { slowedDown: true, waitMs: 2_000 });
    await vi.advanceTimersByTimeAsync(1_999);
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent.map((f) => f.id)).toEqual([outgoing.id, outgoing.id]);
    sender.receive({ type: "ack", id: outgoing.id, message: stored, created: false });
    expect(await result).toMatchObject({ acked: true, via: "socket" });
  });

  it("waits out an HTTP 429's Retry-After, reported as slowing down, then posts the same id again", async () => {
    const onRetry = vi.fn();
    const post = vi
      .fn()
      .mockRejectedValueOnce(new HttpError(429, "sending too fast", 3_000))
      .mockResolvedValue(stored);
    const result = sendUntilAnswered(outgoing, { socket: () => null, post }, { onRetry });
    await settle();
    expect(onRetry).toHaveBeenCalledWith("sending too fast", { slowedDown: true, waitMs: 3_000 });
    await vi.advanceTimersByTimeAsync(2_999);
    expect(post).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(await result).toMatchObject({ acked: true, via: "http" });
    expect(post.mock.calls).toEqual([[outgoing], [outgoing]]);
  });

  it("after the socket drops mid-send, resends the same id over HTTP when the socket is still down", async () => {
    const { sender, link } = fakeSocket();
    const posted: OutgoingMessage[] = [];
    const post = async (message: OutgoingMessage) => {
      posted.push(message);
      return stored;
    };
    const result = sendUntilAnswered(outgoing, { socket: () => (link.open ? sender : null), post });
    link.open = false;
    sender.dropped();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await result).toMatchObject({ acked: true, via: "http" });
    expect(posted).toEqual([outgoing]);
  });

  it("retries a 5xx and no answer with backoff; the lab's tab gives up after maxAttempts", async () => {
    const post = vi.fn(async (_message: OutgoingMessage): Promise<Message> => {
      throw new HttpError(503, "room unavailable");
    });
    const result = sendUntilAnswered(outgoing, { socket: () => null, post }, { maxAttempts: 3 });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await result).toEqual({ acked: false, reason: "room unavailable", rejected: false });
    expect(post).toHaveBeenCalledTimes(3);
    expect(post.mock.calls.every(([m]) => m.id === outgoing.id)).toBe(true);
  });

  it("stops after MAX_SERVER_ERRORS answers of 500 (a bug on the server) and shows its error, over HTTP and the socket", async () => {
    const post = vi.fn(async (_message: OutgoingMessage): Promise<Message> => {
      throw new HttpError(500, "server error 1b4e28ba-2fa1-11d2-883f-0016d3cca427: sending again will not help");
    });
    const overHttp = sendUntilAnswered(outgoing, { socket: () => null, post }, { maxAttempts: 10 });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await overHttp).toEqual({ acked: false, reason: expect.stringContaining("1b4e28ba"), rejected: true });
    expect(post).toHaveBeenCalledTimes(MAX_SERVER_ERRORS);

    const { sender, sent } = fakeSocket();
    const overSocket = sendUntilAnswered(outgoing, { socket: () => sender, post }, { maxAttempts: 10 });
    for (let i = 0; i < MAX_SERVER_ERRORS; i++) {
      await settle();
      sender.receive(nack({ status: 500, error: "server error abc: sending again will not help" }));
      // The backoff after the i-th failure is at most 2^i s, well inside the socket's answer timeout.
      await vi.advanceTimersByTimeAsync(1000 * 2 ** i);
    }
    expect(await overSocket).toEqual({
      acked: false,
      reason: "server error abc: sending again will not help",
      rejected: true,
    });
    expect(sent).toHaveLength(MAX_SERVER_ERRORS);
  });
});
