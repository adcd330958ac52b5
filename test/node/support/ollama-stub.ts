// A real HTTP server speaking Ollama's protocol (the one stand-in the bot tests use):
// GET /api/version, GET /api/tags, POST /api/show, POST /api/pull (streamed progress),
// POST /api/chat (streamed NDJSON or one JSON body, with `think` as Ollama ≥ 0.9 treats it),
// with settable delay, HTTP failures, hangs and a hook to hold a reply before it ends.
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type StubChatMessage = { role: string; content: string };
export type StubChatRequest = {
  model: string;
  messages: StubChatMessage[];
  stream?: boolean;
  think?: boolean | "low" | "medium" | "high";
};

export type OllamaStubOptions = {
  /** The model /api/tags lists (as "<model>:latest"). */
  model?: string;
  /** Wait this long before the first token. */
  delayMs?: number;
  /** Wait this long between streamed tokens. */
  tokenDelayMs?: number;
  /** The reply text for a chat; default: "stub reply to: <last user message>". */
  reply?: (request: StubChatRequest) => string;
  /** Whether the model is pulled at start (default true); /api/pull pulls it. */
  pulled?: boolean;
  /** Whether /api/pull finds the model in the registry (default true). */
  pullable?: boolean;
  /**
   * A thinking model: /api/show lists "thinking"; a chat without `think: false` streams this
   * reasoning as `message.thinking` first (Ollama thinks by default when `think` is unset).
   */
  thinking?: string;
  /** A model Ollama has no thinking parser for: it writes its reasoning into the content as <think>…</think>, whatever `think` says. */
  inlineThinking?: string;
  /** The counts the final chunk reports as `prompt_eval_count` / `eval_count` (default 1 and 1). */
  counts?: (request: StubChatRequest) => { prompt: number; reply: number };
};

export type OllamaStub = {
  url: string;
  model: string;
  /** Every /api/chat body received, in order. */
  readonly chats: StubChatRequest[];
  /** Every model /api/pull was asked for, in order. */
  readonly pulls: string[];
  /** The model is on the server (pulled); a test may set it, as `ollama pull` run elsewhere would. */
  pulled: boolean;
  delayMs: number;
  tokenDelayMs: number;
  /** "ok" answers; "error" answers HTTP 500 with an Ollama error body; "hang" never answers. */
  behaviour: "ok" | "error" | "hang";
  /** Answer the next `count` chats with HTTP `status` (then back to `behaviour`). */
  failNext(count: number, status?: number): void;
  /** Awaited before token `index` (0-based) is written: lets a test hold a generation mid-stream. */
  beforeToken: ((index: number, request: StubChatRequest) => Promise<void>) | undefined;
  /** When each streamed chat wrote its first token (ms, wall clock), in order of chats. */
  readonly firstTokenAt: number[];
  /** Awaited after the last token and before the final `done` chunk: lets a test time the end of a generation. */
  beforeDone: ((request: StubChatRequest) => Promise<void>) | undefined;
  stop(): Promise<void>;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** "stub reply to: <speaker>: <text>" for the last person's turn (the bot sends it as JSON data). */
export function defaultStubReply(request: StubChatRequest): string {
  const last = [...request.messages].reverse().find((m) => m.role === "user");
  if (!last) return "stub reply to: (nothing)";
  const turn = JSON.parse(last.content) as { speaker: string; text: string };
  return `stub reply to: ${turn.speaker}: ${turn.text}`;
}

export async function startOllamaStub(options: OllamaStubOptions = {}): Promise<OllamaStub> {
  const model = options.model ?? "llama3.2";
  const replyFor = options.reply ?? defaultStubReply;
  let failures: { count: number; status: number } = { count: 0, status: 500 };

  const stub: OllamaStub = {
    url: "",
    model,
    chats: [],
    pulls: [],
    pulled: options.pulled ?? true,
    delayMs: options.delayMs ?? 0,
    tokenDelayMs: options.tokenDelayMs ?? 0,
    behaviour: "ok",
    failNext(count, status = 500) {
      failures = { count, status };
    },
    beforeToken: undefined,
    firstTokenAt: [],
    beforeDone: undefined,
    stop: async () => undefined,
  };

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
    res.end(JSON.stringify(body));
  };

  const chunk = (content: string, done: boolean, counts = { prompt: 1, reply: 1 }) => ({
    model,
    created_at: new Date().toISOString(),
    message: { role: "assistant", content },
    done,
    ...(done
      ? {
          done_reason: "stop",
          total_duration: 1,
          load_duration: 1,
          prompt_eval_count: counts.prompt,
          prompt_eval_duration: 1,
          eval_count: counts.reply,
          eval_duration: 1,
        }
      : {}),
  });

  async function chat(res: ServerResponse, body: string): Promise<void> {
    let request: StubChatRequest;
    try {
      request = JSON.parse(body) as StubChatRequest;
    } catch {
      return json(res, 400, { error: "invalid JSON" });
    }
    stub.chats.push(request);
    if (!isOurs(request.model)) {
      return json(res, 404, { error: `model "${request.model}" not found, try pulling it first` });
    }
    // Ollama refuses `think` on a model without the capability; `false` is accepted by every model.
    if (request.think !== undefined && request.think !== false && options.thinking === undefined) {
      return json(res, 400, { error: `"${request.model}" does not support thinking` });
    }
    if (failures.count > 0) {
      failures.count--;
      return json(res, failures.status, { error: `stub failure (HTTP ${failures.status})` });
    }
    if (stub.behaviour === "error") return json(res, 500, { error: "stub: model runner crashed" });
    if (stub.behaviour === "hang") return; // never answers; the client's abort or stop() ends it
    // 'close' before we end the response means the client gave up (abort, timeout).
    let gone = false;
    res.once("close", () => (gone = true));
    if (stub.delayMs) await sleep(stub.delayMs);
    if (gone) return;

    const inline = options.inlineThinking === undefined ? "" : `<think>\n${options.inlineThinking}\n</think>\n\n`;
    const text = inline + replyFor(request);
    const thinking = options.thinking !== undefined && request.think !== false ? options.thinking : "";
    if (request.stream === false) {
      await stub.beforeDone?.(request);
      const whole = chunk(text, true, options.counts?.(request));
      return json(res, 200, thinking ? { ...whole, message: { ...whole.message, thinking } } : whole);
    }
    res.writeHead(200, { "content-type": "application/x-ndjson" });
    const tokens = (t: string) => t.match(/\S+\s*/g) ?? [t];
    const parts = [
      ...(thinking
        ? tokens(thinking).map((token) => ({
            ...chunk("", false),
            message: { role: "assistant", content: "", thinking: token },
          }))
        : []),
      ...tokens(text).map((token) => chunk(token, false)),
    ];
    for (const [index, part] of parts.entries()) {
      await stub.beforeToken?.(index, request);
      if (gone) return;
      res.write(`${JSON.stringify(part)}\n`);
      if (index === 0) stub.firstTokenAt.push(performance.timeOrigin + performance.now());
      if (stub.tokenDelayMs) await sleep(stub.tokenDelayMs);
    }
    await stub.beforeDone?.(request);
    if (!gone) res.end(`${JSON.stringify(chunk("", true, options.counts?.(request)))}\n`);
  }

  const isOurs = (name: string | undefined) => stub.pulled && (name === model || name === `${model}:latest`);

  /** As Ollama streams a pull: the manifest, one layer's bytes in steps, then verify, write, success. */
  async function pull(res: ServerResponse, body: string): Promise<void> {
    const request = JSON.parse(body || "{}") as { model?: string; name?: string; stream?: boolean };
    const name = request.model ?? request.name ?? "";
    stub.pulls.push(name);
    const known = (options.pullable ?? true) && (name === model || name === `${model}:latest`);
    if (request.stream === false) {
      if (!known) return json(res, 500, { error: "pull model manifest: file does not exist" });
      stub.pulled = true;
      return json(res, 200, { status: "success" });
    }
    res.writeHead(200, { "content-type": "application/x-ndjson" });
    const send = (part: unknown) => res.write(`${JSON.stringify(part)}\n`);
    send({ status: "pulling manifest" });
    if (!known) return void res.end(`${JSON.stringify({ error: "pull model manifest: file does not exist" })}\n`);
    const digest = "sha256:74701a8c35f6c8d9a4b91f3f3497643001d63e0c7a84e085bed452548fa88d45";
    const total = 1_321_082_688;
    for (let step = 0; step <= 40; step++) {
      send({
        status: `pulling ${digest.slice(7, 19)}`,
        digest,
        total,
        ...(step ? { completed: Math.round((total * step) / 40) } : {}),
      });
      if (stub.tokenDelayMs) await sleep(stub.tokenDelayMs);
    }
    for (const status of ["verifying sha256 digest", "writing manifest", "removing any unused layers"])
      send({ status });
    stub.pulled = true;
    res.end(`${JSON.stringify({ status: "success" })}\n`);
  }

  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (part) => (body += part));
    req.on("end", () => {
      const path = new URL(req.url ?? "/", "http://stub").pathname;
      if (req.method === "GET" && path === "/api/version") return json(res, 200, { version: "0.0.0-stub" });
      if (req.method === "GET" && path === "/api/tags") {
        return json(res, 200, {
          models: stub.pulled
            ? [
                {
                  name: `${model}:latest`,
                  model: `${model}:latest`,
                  modified_at: new Date(0).toISOString(),
                  size: 1,
                  digest: "stub",
                  details: {},
                },
              ]
            : [],
        });
      }
      if (req.method === "POST" && path === "/api/show") {
        const name = (JSON.parse(body || "{}") as { model?: string; name?: string }).model ?? "";
        if (!isOurs(name)) return json(res, 404, { error: `model '${name}' not found` });
        return json(res, 200, {
          modelfile: "",
          parameters: "",
          template: "{{ .Prompt }}",
          details: { format: "gguf", family: "stub" },
          model_info: {},
          capabilities: ["completion", ...(options.thinking !== undefined ? ["thinking"] : [])],
          modified_at: new Date(0).toISOString(),
        });
      }
      if (req.method === "POST" && path === "/api/pull") {
        pull(res, body).catch((err) => {
          if (!res.headersSent) json(res, 500, { error: String(err) });
          else res.destroy();
        });
        return;
      }
      if (req.method === "POST" && path === "/api/chat") {
        chat(res, body).catch((err) => {
          if (!res.headersSent) json(res, 500, { error: String(err) });
          else res.destroy();
        });
        return;
      }
      json(res, 404, { error: "not found" });
    });
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  stub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  stub.stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return stub;
}
