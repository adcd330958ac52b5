// A DevTools protocol (CDP) session with a local Worker's isolate, through wrangler's inspector
// proxy (`--inspector-port`): the one the Worker and its Durable Objects share. The proxy takes
// only connections that come from DevTools, so the session says it does (its Origin header).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { TraceMap, originalPositionFor } from "@jridgewell/trace-mapping";
import { PROJECT_ROOT } from "../../scripts/local-worker";
import type { AllocationSite } from "../heap-report";

const DEVTOOLS_ORIGIN = "https://devtools.devprod.cloudflare.dev";
const CALL_TIMEOUT_MS = 30_000;

export type Inspector = {
  call<T = unknown>(method: string, params?: object): Promise<T>;
  close(): void;
};

export async function openInspector(inspectorPort: number): Promise<Inspector> {
  const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as {
    webSocketDebuggerUrl: string;
  }[];
  const url = targets[0]?.webSocketDebuggerUrl;
  if (!url) throw new Error(`no inspector target on port ${inspectorPort}`);
  // Node's WebSocket (undici) takes request headers as an extension of the standard constructor.
  const init = { headers: { origin: DEVTOOLS_ORIGIN } } as unknown as string[];
  const ws = new WebSocket(url, init);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("error", () => reject(new Error(`inspector ${url} refused the session`)), { once: true });
  });
  let nextId = 0;
  const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  ws.addEventListener("message", (event) => {
    const reply = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } };
    const call = reply.id === undefined ? undefined : waiting.get(reply.id);
    if (!call) return;
    waiting.delete(reply.id!);
    if (reply.error) call.reject(new Error(reply.error.message));
    else call.resolve(reply.result);
  });
  return {
    call<T>(method: string, params: object = {}): Promise<T> {
      const id = ++nextId;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`${method}: no answer within ${CALL_TIMEOUT_MS} ms`));
        }, CALL_TIMEOUT_MS);
        const settle =
          <V>(done: (value: V) => void) =>
          (value: V) => (clearTimeout(timer), done(value));
        waiting.set(id, { resolve: settle((v) => resolve(v as T)), reject: settle(reject) });
        ws.send(JSON.stringify({ id, method, params }));
      });
    },
    close: () => ws.close(),
  };
}

/**
 * Where a line of the running bundle comes from: `wrangler dev` bundles into `.wrangler/tmp/dev-*`
 * with a source map, kept while it runs; every `wrangler dev` of this project's config bundles the
 * same code. The newest map that parses (another one may be half written as its Worker starts).
 * Null without one.
 */
export function bundleSources(): ((line: number, column: number) => string | null) | null {
  const dir = join(PROJECT_ROOT, ".wrangler", "tmp");
  if (!existsSync(dir)) return null;
  const maps = readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && entry.name.startsWith("dev-"))
    .map((entry) => join(dir, entry.name, "index.js.map"))
    .map((file) => ({ file, at: statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? -1 }))
    .filter(({ at }) => at >= 0)
    .sort((a, b) => b.at - a.at);
  for (const { file } of maps) {
    let map: TraceMap;
    try {
      map = new TraceMap(readFileSync(file, "utf8"));
    } catch {
      continue;
    }
    return (line, column) => {
      // CDP counts lines and columns from 0; source maps count lines from 1.
      const { source, line: at } = originalPositionFor(map, { line: line + 1, column });
      return source ? `${relative(PROJECT_ROOT, resolve(dirname(file), source))}:${at}` : null;
    };
  }
  return null;
}

// ---- the sampling heap profiler ----

export type HeapProfileNode = {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  /** bytes allocated here (V8 scales its samples to an estimate of them all) */
  selfSize: number;
  children?: HeapProfileNode[];
};

/** The heap the isolate allocates while `during` runs, garbage already collected included: the profile's root. */
export async function sampleHeap(
  inspector: Inspector,
  samplingInterval: number,
  during: () => Promise<void>,
): Promise<HeapProfileNode> {
  await inspector.call("HeapProfiler.enable");
  await inspector.call("HeapProfiler.startSampling", {
    samplingInterval,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  try {
    await during();
  } catch (err) {
    await inspector.call("HeapProfiler.stopSampling").catch(() => undefined);
    throw err;
  }
  const { profile } = await inspector.call<{ profile: { head: HeapProfileNode } }>("HeapProfiler.stopSampling");
  return profile.head;
}

function* nodesOf(node: HeapProfileNode): Generator<HeapProfileNode> {
  yield node;
  for (const child of node.children ?? []) yield* nodesOf(child);
}

export const totalBytes = (root: HeapProfileNode): number =>
  [...nodesOf(root)].reduce((sum, node) => sum + node.selfSize, 0);

/**
 * The `top` largest allocation sites over `roots`, in bytes per message, and the rest as one row
 * ("everything else"). A site is a function at its source line (the bundle's source map), or the
 * runtime's own ("(runtime)").
 */
export function allocationSites(
  roots: HeapProfileNode[],
  messages: number,
  sourceOf: ReturnType<typeof bundleSources>,
  top: number,
): AllocationSite[] {
  const sites = new Map<string, AllocationSite>();
  for (const node of roots.flatMap((root) => [...nodesOf(root)])) {
    if (!node.selfSize) continue;
    const { functionName, url, lineNumber, columnNumber } = node.callFrame;
    const bundled = url === BUNDLE;
    const at =
      (bundled ? sourceOf?.(lineNumber, columnNumber) : null) ?? (url ? `${url}:${lineNumber + 1}` : "(runtime)");
    const fn = functionName || "(anonymous)";
    const site = sites.get(`${fn} ${at}`) ?? { fn, at, bytesPerMessage: 0 };
    site.bytesPerMessage += node.selfSize / messages;
    sites.set(`${fn} ${at}`, site);
  }
  const sorted = [...sites.values()].sort((a, b) => b.bytesPerMessage - a.bytesPerMessage);
  const rest = sorted.slice(top).reduce((sum, s) => sum + s.bytesPerMessage, 0);
  return [
    ...sorted.slice(0, top).map((s) => ({ ...s, bytesPerMessage: Math.round(s.bytesPerMessage) })),
    { fn: "", at: "everything else", bytesPerMessage: Math.round(rest) },
  ];
}

/** The script name `wrangler dev` gives the Worker's bundle in the isolate. */
const BUNDLE = "index.js";
