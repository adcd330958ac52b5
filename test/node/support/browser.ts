// Browser tests drive Debian's Chromium through playwright-core (Playwright's own
// browser download cannot work here), against a real `wrangler dev`.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { chromium, type Browser, type ConsoleMessage, type Page } from "playwright-core";
import type { Flags } from "../../../src/shared/flags";
import type { SendFrame, ServerFrame } from "../../../src/shared/frames";
import type { Message } from "../../../src/shared/message";
import { PROJECT_ROOT, type LocalWorker } from "../../../scripts/local-worker";

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-sync",
  "--disable-quic",
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

/** Collects what would mean the page is broken or was attacked: errors, dialogs, CSP violations. */
export function watchPage(page: Page): { errors: string[]; dialogs: string[] } {
  const seen = { errors: [] as string[], dialogs: [] as string[] };
  page.on("pageerror", (err) => seen.errors.push(String(err)));
  page.on("console", (msg: ConsoleMessage) => {
    if (msg.type() === "error") seen.errors.push(msg.text());
  });
  page.on("dialog", (dialog) => {
    seen.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss();
  });
  return seen;
}

export async function api<T>(
  worker: LocalWorker,
  path: string,
  init: { method?: string; body?: unknown; token?: string } = {},
): Promise<{ status: number; body: T; mode: string | null }> {
  const headers: Record<string, string> = {};
  if (init.body !== undefined) headers["content-type"] = "application/json";
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  const response = await fetch(`${worker.url}${path}`, {
    method: init.method ?? "GET",
    headers,
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const body = (await response.json()) as T;
  return { status: response.status, body, mode: response.headers.get("x-cache-mode") };
}

export async function putFlags(worker: LocalWorker, flags: Flags): Promise<void> {
  const { status, body } = await api(worker, "/api/admin/flags", {
    method: "PUT",
    body: flags,
    token: worker.adminToken,
  });
  if (status !== 200) throw new Error(`PUT /api/admin/flags answered ${status}: ${JSON.stringify(body)}`);
}

export async function postMessage(worker: LocalWorker, room: string, text: string, author = "node"): Promise<Message> {
  const { status, body } = await api<Message>(worker, "/api/comments", {
    method: "POST",
    body: { room, text, author },
  });
  if (status !== 201) throw new Error(`POST /api/comments answered ${status}: ${JSON.stringify(body)}`);
  return body;
}

export async function listRoom(
  worker: LocalWorker,
  room: string,
): Promise<{ comments: Message[]; mode: string | null }> {
  const { body, mode } = await api<{ comments: Message[] }>(worker, `/api/comments?room=${room}&limit=200`);
  return { comments: body.comments, mode };
}

/** The row of one message in the chat page's list. */
export function messageRow(page: Page, text: string) {
  return page.locator("#messages li.msg", { has: page.locator(".msg__text", { hasText: text }) });
}

/** Types a message into the chat page and presses Send. */
export async function sendFromPage(page: Page, text: string): Promise<void> {
  await page.getByRole("textbox", { name: "Message" }).fill(text);
  await page.getByRole("button", { name: "Send" }).click();
}

/** The "sending… / sent / verified" mark of one of the page's own messages. */
export const ownState = (page: Page, text: string) => messageRow(page, text).locator(".msg__state");

/** The ids in the page's verification list (localStorage `pendingMessages`). */
export const pendingIds = (page: Page) =>
  page.evaluate(() =>
    (JSON.parse(localStorage.getItem("pendingMessages") ?? "[]") as { id: string }[]).map((e) => e.id),
  );

export const ROOM_SOCKET_URL = /\/api\/rooms\/[^/]+\/ws$/;

/** How a page sent its messages: the ids of its POST /api/comments requests and the `send` frames of its sockets. */
export function watchSends(page: Page): { posted: string[]; frames: SendFrame[] } {
  const seen = { posted: [] as string[], frames: [] as SendFrame[] };
  page.on("request", (request) => {
    if (request.method() === "POST" && new URL(request.url()).pathname === "/api/comments")
      seen.posted.push((request.postDataJSON() as { id: string }).id);
  });
  page.on("websocket", (socket) => {
    socket.on("framesent", ({ payload }) => {
      const frame = parseFrame<SendFrame>(payload);
      if (frame?.type === "send") seen.frames.push(frame);
    });
  });
  return seen;
}

/** A WebSocket payload as a frame; null if it is not JSON. */
export function parseFrame<T extends SendFrame | ServerFrame>(payload: string | Buffer): T | null {
  try {
    return JSON.parse(String(payload)) as T;
  } catch {
    return null;
  }
}

/**
 * Rewrites the room's legacy cache (KV `cache:<room>`) in the running worker's local
 * state with `wrangler kv key put --local`: the same overwrite a losing concurrent
 * writer does on the kv path, made deterministic so a test can lose a chosen message.
 */
export function overwriteRoomCache(persistTo: string, room: string, messages: Message[]): void {
  const wrangler = join(PROJECT_ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
  execFileSync(
    process.execPath,
    [
      wrangler,
      "kv",
      "key",
      "put",
      "--local",
      "--persist-to",
      persistTo,
      "--binding",
      "CHAT_KV",
      `cache:${room}`,
      JSON.stringify(messages),
    ],
    { cwd: PROJECT_ROOT, stdio: "pipe", env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1" } },
  );
}
