// The operator page (/admin): sign in with the ADMIN_TOKEN, then watch per-mode
// figures and heals live, change the flag, delete messages, and read the audit trail.
import type { FlagsResponse } from "../shared/api";
import type { Flags } from "../shared/flags";
import type { PathMode } from "../shared/message";
import { byId, formatDateTime } from "./dom";
import { HttpError, describeError } from "../client/http";
import {
  createBot,
  deleteMessage,
  getBots,
  getFlags,
  getRoomMessages,
  getRoomSize,
  getRooms,
  getStats,
  putFlags,
  revokeBot,
  rotateBot,
  setDefaultBot,
  type Credentials,
} from "./admin/api";
import { BotsView } from "./admin/bots-view";
import { renderAudit } from "./admin/audit-view";
import { renderHealChart } from "./admin/chart";
import { FlagForm } from "./admin/flag-form";
import { RoomMessages } from "./admin/room-messages";
import { renderRooms } from "./admin/rooms-view";
import { clearCredentials, loadCredentials, saveCredentials } from "./admin/session";
import { renderStats } from "./admin/stats-view";

const REFRESH_MS = 5_000;

const signIn = byId("sign-in");
const dashboard = byId("dashboard");
const signOut = byId<HTMLButtonElement>("sign-out");
const signInError = byId("sign-in-error");
const updated = byId("updated");
const problem = byId("problem");

let credentials = loadCredentials();
let flags: Flags | null = null;
let timer: ReturnType<typeof setTimeout> | undefined;
// The page of rooms shown (undefined: the first) and the next one's cursor: one page is listed at a time.
let roomsCursor: string | undefined;
let nextRoomsCursor: string | undefined;

const form = new FlagForm(async (next, progress) => {
  if (!credentials) return;
  showFlags(await putFlags(credentials, next, progress), true);
  void refresh();
});

const roomMessages = new RoomMessages({
  load: getRoomMessages,
  size: async (room) => {
    if (!credentials) throw new Error("signed out");
    return getRoomSize(credentials, room);
  },
  remove: async (room, message) => {
    if (credentials) await deleteMessage(credentials, room, message.id);
  },
  onDeleted: () => void refresh(),
  onError: (err) => handleError(err),
});

/** Every bot action needs the operator's token; signed out, it cannot happen (the page is hidden). */
const signedIn = (): Credentials => {
  if (!credentials) throw new Error("sign in first");
  return credentials;
};

const botsView = new BotsView({
  create: (bot) => createBot(signedIn(), bot),
  rotate: (name) => rotateBot(signedIn(), name),
  revoke: (name) => revokeBot(signedIn(), name),
  setDefault: (room, bot) => setDefaultBot(signedIn(), room, bot),
  changed: () => void refresh(),
  failed: (err) => handleError(err),
});

function showFlags(response: FlagsResponse, force = false): void {
  flags = response.flags;
  form.show(response.flags, force);
  renderAudit(byId("audit"), response.audit, response.deletions);
}

async function flip(room: string, mode: PathMode): Promise<void> {
  if (!credentials) return;
  try {
    // Always from the server's current document: PUT replaces it whole.
    const current = (await getFlags(credentials)).flags;
    const next: Flags = {
      defaultMode: current.defaultMode,
      doPercent: current.doPercent,
      rooms: { ...current.rooms, [room]: mode },
    };
    const response = await putFlags(credentials, next);
    form.setRoom(room, mode);
    showFlags(response);
  } catch (err) {
    handleError(err);
    delete byId("rooms").dataset.signature; // re-enable the flip button on the next refresh
  }
  void refresh();
}

async function refresh(): Promise<void> {
  clearTimeout(timer);
  if (!credentials) return;
  try {
    const [flagsResponse, stats, rooms, bots] = await Promise.all([
      getFlags(credentials),
      getStats(credentials),
      getRooms(roomsCursor),
      getBots(credentials),
    ]);
    botsView.render(bots);
    nextRoomsCursor = rooms.cursor;
    byId("rooms-next").hidden = !rooms.cursor;
    byId("rooms-first").hidden = !roomsCursor;
    showFlags(flagsResponse);
    renderStats(byId<HTMLTableElement>("stats"), stats);
    const unavailable = byId("stats-unavailable");
    unavailable.textContent = stats.unavailable ? `Figures unavailable: ${stats.unavailable}` : "";
    unavailable.hidden = !stats.unavailable;
    renderHealChart(byId("chart"), stats.timeline);
    renderRooms(
      byId("rooms"),
      rooms.rooms,
      flags ?? flagsResponse.flags,
      (room, mode) => void flip(room, mode),
      (room) => void roomMessages.open(room),
    );
    updated.textContent = `Updated ${formatDateTime(Date.now())}`;
    problem.hidden = true;
  } catch (err) {
    handleError(err);
  }
  if (credentials) timer = setTimeout(() => void refresh(), REFRESH_MS);
}

function handleError(err: unknown): void {
  if (err instanceof HttpError && err.status === 401) {
    showSignedOut("The server refused this token. Check ADMIN_TOKEN and sign in again.");
    return;
  }
  problem.textContent = `Could not refresh: ${describeError(err)}`;
  problem.hidden = false;
}

function showSignedIn(): void {
  signIn.hidden = true;
  dashboard.hidden = false;
  signOut.hidden = false;
  void refresh();
}

function showSignedOut(error?: string): void {
  clearTimeout(timer);
  roomMessages.close();
  clearCredentials();
  credentials = null;
  dashboard.hidden = true;
  signOut.hidden = true;
  signIn.hidden = false;
  signInError.textContent = error ?? "";
  signInError.hidden = !error;
  byId<HTMLInputElement>("token").focus();
}

byId<HTMLFormElement>("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = byId<HTMLInputElement>("token").value.trim();
  const operator = byId<HTMLInputElement>("operator").value.trim();
  if (!token) return;
  credentials = operator ? { token, operator } : { token };
  saveCredentials(credentials satisfies Credentials);
  byId<HTMLInputElement>("token").value = "";
  signInError.hidden = true;
  showSignedIn();
});
signOut.addEventListener("click", () => showSignedOut());
byId("rooms-next").addEventListener("click", () => {
  roomsCursor = nextRoomsCursor;
  void refresh();
});
byId("rooms-first").addEventListener("click", () => {
  roomsCursor = undefined;
  void refresh();
});
// Catch up at once when the tab comes back instead of waiting for the next tick.
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && credentials) void refresh();
});

if (credentials) showSignedIn();
else showSignedOut();
