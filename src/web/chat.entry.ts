// The chat page (/, /r/<room>, ?room=): wires the DOM to the ChatApp controller.
import type { Presence } from "../shared/frames";
import { MAX_TEXT, type PathMode } from "../shared/message";
import { byId, el } from "./dom";
import { listRooms } from "./chat/api";
import { ChatApp } from "./chat/app";
import { Cadence } from "./chat/cadence";
import { normalizeRoom, pollOverride, roomFromLocation, roomPath } from "./chat/location";
import { MessageListView } from "./chat/view";
import { MentionCompleter } from "./chat/mentions";

const NAME_KEY = "displayName";

const { room, invalid } = roomFromLocation(location);
const TITLE = `#${room} · lossless-chat`;
document.title = TITLE;
byId("room-title").textContent = `#${room}`;

const modeBadge = byId("mode");
const delivery = byId("delivery");
const notice = byId("notice");
const composerError = byId("composer-error");
const messageBox = byId<HTMLTextAreaElement>("message");
const mentions = new MentionCompleter(messageBox, byId("mentions"), byId("mentions-status"));
const nameInput = byId<HTMLInputElement>("name");
const counter = byId("counter");
const presenceLine = byId("presence");
const noBot = byId("no-bot");
const typingLine = byId("typing");
const jump = byId<HTMLButtonElement>("jump");

const BOT_STATE_TEXT = { idle: "waiting for questions", thinking: "thinking…", writing: "writing…" } as const;

/** "ana, ben (2 tabs)": a name with several sockets says so. */
const personText = ({ name, sockets }: Presence["people"][number]) =>
  sockets > 1 ? `${name} (${sockets} tabs)` : name;

/** "Ana is typing…", "Ana and Ben are typing…", "Ana, Ben and 2 more are typing…" */
function typingText(names: string[]): string {
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length <= 3) return `${names.slice(0, -1).join(", ")} and ${names.at(-1)} are typing…`;
  return `${names.slice(0, 2).join(", ")} and ${names.length - 2} more are typing…`;
}

const DELIVERY_TEXT = { live: "live", polling: "polling", connecting: "connecting…" } as const;

const app = new ChatApp(
  room,
  {
    // The rows' buttons (Stop, Regenerate, Edit, reactions) call the controller (`app` exists by the time anyone clicks).
    list: new MessageListView(byId("messages"), byId("scroller"), byId("history"), {
      stop: (id) => app.actions.stop(id),
      regenerate: (id) => app.actions.regenerate(id),
      startEdit: (id) => app.actions.startEdit(id),
      draft: (id, text) => app.actions.draft(id, text),
      saveEdit: (id) => app.actions.saveEdit(id),
      cancelEdit: (id) => app.actions.cancelEdit(id),
      toggleHistory: (id) => app.actions.toggleHistory(id),
      react: (id, emoji) => app.actions.react(id, emoji),
    }),
    showMode(mode: PathMode | null, how: keyof typeof DELIVERY_TEXT) {
      modeBadge.textContent = mode ?? "…";
      modeBadge.className = `mode mode--${mode ?? "unknown"}`;
      modeBadge.title =
        mode === "do"
          ? "Serialized path: the room's Durable Object"
          : mode === "kv"
            ? "Legacy path: one KV value per room"
            : "";
      delivery.textContent = DELIVERY_TEXT[how];
      delivery.className = `delivery delivery--${how}`;
    },
    showNotice(text: string | null) {
      notice.textContent = text ?? "";
      notice.hidden = text === null;
    },
    showPresence(presence: Presence | null) {
      mentions.setBots(presence?.serving ?? []);
      presenceLine.hidden = presence === null;
      noBot.hidden = presence === null || presence.bots.length > 0;
      if (!presence) return;
      const people = `${presence.count} here: ${presence.people.map(personText).join(", ")}`;
      const bots = presence.bots.map((bot) => `${bot.id} ${BOT_STATE_TEXT[bot.state]}`).join(", ");
      const serving = (presence.serving ?? []).map((bot) => `@${bot.name}${bot.default ? " (default)" : ""}`);
      const line = bots ? `${people} · bots: ${bots}` : people;
      presenceLine.textContent = serving.length ? `${line} · ask ${serving.join(", ")}` : line;
    },
    showUnseen(count: number, { hidden, atBottom }: { hidden: boolean; atBottom: boolean }) {
      // In the background the tab title counts what came; on the page, the jump button does.
      document.title = hidden && count > 0 ? `(${count}) ${TITLE}` : TITLE;
      jump.hidden = atBottom;
      jump.textContent = count > 0 ? `${count} new ↓` : "Latest ↓";
    },
    showTyping(names: string[]) {
      typingLine.textContent = names.length ? typingText(names) : "";
    },
    showRejected(text: string, reason: string) {
      composerError.textContent = `Not sent: ${reason}`;
      composerError.hidden = false;
      if (!messageBox.value) messageBox.value = text;
      updateCounter();
      messageBox.focus();
    },
  },
  new Cadence(pollOverride(location.search)),
);

if (invalid) {
  notice.textContent = `"${invalid}" is not a valid room name (a-z, 0-9, dashes); showing #${room}.`;
  notice.hidden = false;
}

// ---- composer ----

nameInput.value = localStorage.getItem(NAME_KEY) ?? "";
app.setName(nameInput.value.trim() || undefined);
nameInput.addEventListener("change", () => {
  const name = nameInput.value.trim();
  if (name) localStorage.setItem(NAME_KEY, name);
  else localStorage.removeItem(NAME_KEY);
  app.setName(name || undefined);
});

function updateCounter(): void {
  const length = messageBox.value.trim().length;
  counter.textContent = length > MAX_TEXT - 500 ? `${length} / ${MAX_TEXT}` : "";
  counter.classList.toggle("counter--over", length > MAX_TEXT);
}

function submit(): void {
  const text = messageBox.value.trim();
  if (!text) {
    messageBox.focus();
    return;
  }
  composerError.hidden = true;
  const author = nameInput.value.trim() || undefined;
  if (author) localStorage.setItem(NAME_KEY, author);
  messageBox.value = "";
  updateCounter();
  app.send(text, author);
  messageBox.focus();
}

byId<HTMLFormElement>("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});
messageBox.addEventListener("keydown", (event) => {
  if (mentions.handleKey(event)) return;
  // Enter sends, Shift+Enter is a new line; never while an input method is composing.
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submit();
  }
});
messageBox.addEventListener("input", () => {
  composerError.hidden = true;
  updateCounter();
  if (messageBox.value.trim()) app.typing();
});

// ---- room switcher ----

const roomInput = byId<HTMLInputElement>("room-input");
const roomError = byId("room-error");
roomInput.value = room;
byId<HTMLFormElement>("room-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const next = normalizeRoom(roomInput.value);
  if (!next) {
    roomError.textContent = "Use a-z, 0-9 and dashes (up to 64).";
    roomError.hidden = false;
    return;
  }
  if (next !== room) location.assign(roomPath(next));
});
roomInput.addEventListener("input", () => (roomError.hidden = true));

listRooms()
  .then(({ body }) => {
    const options = body.rooms.map((r) => el("option", { attrs: { value: r.name } }));
    byId("room-list").replaceChildren(...options);
  })
  .catch(() => {
    // The list only helps typing; the switcher works without it.
  });

jump.addEventListener("click", () => app.jumpToLatest());

app.start();
messageBox.focus();
