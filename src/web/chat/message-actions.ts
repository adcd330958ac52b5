// What a reader can do to a message in a do room besides reading it: edit their own (with the
// key their post was given), see an edited message's earlier texts, and react with an emoji.
// The elements are built here; the controller (app.ts) keeps the state and talks to the Worker.
import { REACTIONS, type Message, type MessageVersion, type Reaction } from "../../shared/message";
import { el, formatDateTime } from "../dom";

/** A message's edit and reaction state, as the controller knows it. */
export type RowExtras = {
  /** the room takes edits and reactions (do mode) */
  interactive: boolean;
  /** ours, and this browser holds its edit key */
  editable: boolean;
  /** this browser asked the question (holds its edit key) and its answer is done, failed or stopped */
  regenerable: boolean;
  /** the emoji this browser gave the message */
  mine: Reaction[];
  /** being edited: the text so far */
  draft: string | null;
  editError: string | null;
  history: MessageVersion[] | "loading" | { error: string } | null;
};

export type RowActions = {
  stop(id: string): void;
  regenerate(id: string): void;
  startEdit(id: string): void;
  draft(id: string, text: string): void;
  saveEdit(id: string): void;
  cancelEdit(id: string): void;
  toggleHistory(id: string): void;
  react(id: string, emoji: Reaction): void;
};

/** "edited": a button that shows (or hides) the earlier texts. */
export function editedTag(message: Message, extras: RowExtras, actions: RowActions): HTMLElement | null {
  if (!message.version) return null;
  const open = extras.history !== null;
  const when = message.editedAt ? `edited ${formatDateTime(message.editedAt)}` : "edited";
  const button = el("button", {
    class: "msg__edited",
    text: "edited",
    attrs: { "type": "button", "aria-expanded": String(open), "title": `${when}: show what it said before` },
  });
  button.addEventListener("click", () => actions.toggleHistory(message.id));
  return button;
}

export function editButton(message: Message, extras: RowExtras, actions: RowActions): HTMLElement | null {
  if (!extras.interactive || !extras.editable || extras.draft !== null || message.deleted) return null;
  const button = el("button", {
    class: "msg__action",
    text: "Edit",
    attrs: { "type": "button", "aria-label": "Edit your message" },
  });
  button.addEventListener("click", () => actions.startEdit(message.id));
  return button;
}

/** "Regenerate" on an AI reply (or "Ask again" on a failed question) for the one who asked. */
export function regenerateButton(message: Message, extras: RowExtras, actions: RowActions): HTMLElement | null {
  if (!extras.interactive || !extras.regenerable || message.deleted) return null;
  const ai = message.kind === "ai";
  const button = el("button", {
    class: "msg__action",
    text: ai ? "Regenerate" : "Ask again",
    attrs: {
      "type": "button",
      "aria-label": ai ? "Regenerate: ask the bot for another answer" : "Ask again: the bot answers this question",
      "title": ai ? "The bot answers again; this answer stays in the reply's history" : "Queue this question again",
    },
  });
  button.addEventListener("click", () => {
    (button as HTMLButtonElement).disabled = true;
    actions.regenerate(message.id);
  });
  return button;
}

/** The message's text in a box: Enter (or Save) saves, Shift+Enter adds a line, Escape cancels. */
export function editForm(message: Message, extras: RowExtras, actions: RowActions): HTMLElement {
  const box = el("textarea", { class: "msg__edit-text", attrs: { "rows": "2", "aria-label": "Edit your message" } });
  box.value = extras.draft ?? message.text;
  box.addEventListener("input", () => actions.draft(message.id, box.value));
  box.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      actions.cancelEdit(message.id);
    } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      actions.saveEdit(message.id);
    }
  });
  const save = el("button", { class: "btn btn--small", text: "Save", attrs: { type: "button" } });
  save.addEventListener("click", () => actions.saveEdit(message.id));
  const cancel = el("button", { class: "btn btn--ghost btn--small", text: "Cancel", attrs: { type: "button" } });
  cancel.addEventListener("click", () => actions.cancelEdit(message.id));
  // Focus once the row is in the page: the box is where the reader is typing.
  queueMicrotask(() => {
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  });
  return el(
    "div",
    { class: "msg__edit" },
    box,
    el(
      "div",
      { class: "msg__edit-actions" },
      save,
      cancel,
      el("span", { class: "msg__hint", text: "Enter saves · Escape cancels" }),
    ),
    extras.editError ? el("p", { class: "msg__edit-error", text: extras.editError, attrs: { role: "alert" } }) : null,
  );
}

/** The earlier texts, oldest first, each with when it was replaced. */
export function historyList(extras: RowExtras): HTMLElement | null {
  const { history } = extras;
  if (history === null) return null;
  if (history === "loading") return el("p", { class: "msg__history", text: "Loading earlier versions…" });
  if (!Array.isArray(history))
    return el("p", { class: "msg__history", text: `Earlier versions did not load (${history.error})` });
  return el(
    "ol",
    { class: "msg__history", attrs: { "aria-label": "Earlier versions" } },
    ...history.map((v) =>
      el("li", {}, el("span", { class: "msg__history-when", text: `until ${formatDateTime(v.replacedAt)}: ` }), v.text),
    ),
  );
}

/** The fixed emoji, each with its count; pressed where this browser reacted. */
export function reactionBar(message: Message, extras: RowExtras, actions: RowActions): HTMLElement | null {
  if (!extras.interactive || message.deleted) return null;
  return el(
    "div",
    { class: "msg__reactions", attrs: { "role": "group", "aria-label": "Reactions" } },
    ...REACTIONS.map((emoji) => {
      const count = message.reactions?.[emoji] ?? 0;
      const pressed = extras.mine.includes(emoji);
      const button = el("button", {
        class: `reaction${count ? " reaction--used" : ""}`,
        text: count ? `${emoji} ${count}` : emoji,
        attrs: { "type": "button", "aria-pressed": String(pressed), "aria-label": `${emoji} ${count}` },
      });
      button.addEventListener("click", () => actions.react(message.id, emoji));
      return button;
    }),
  );
}
