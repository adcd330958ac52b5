// Renders the message list. Rows are keyed by id and rebuilt only when what they
// show changed; people's text goes in through text nodes, AI replies through markdown.ts.
import type { Message } from "../../shared/message";
import type { StreamState } from "../../shared/stream";
import { el, formatDateTime, formatTime } from "../dom";
import type { HistoryState } from "./history";
import { renderMarkdown } from "./markdown";
import {
  editButton,
  regenerateButton,
  editForm,
  editedTag,
  historyList,
  reactionBar,
  type RowActions,
  type RowExtras,
} from "./message-actions";

/** Where one of our own messages stands, as its row shows it. */
export type OwnState = "sending" | "retrying" | "waiting" | "sent" | "verified" | "healing" | "unconfirmed" | "deleted";

/**
 * A message as the list shows it: from the server, or the page's own copy not yet seen there,
 * or (`stream`) an AI reply still being written.
 */
export type Row = {
  message: Message;
  own?: OwnState;
  stream?: StreamState;
  beingAnswered?: boolean;
  extras?: RowExtras;
  /** this browser asked the question this reply answers (it may Stop it, or ask again) */
  asked?: boolean;
};

const STREAM_NOTE: Partial<Record<StreamState, string>> = {
  stopping: "stopping…",
  interrupted: "reply interrupted",
};

const OWN_LABEL: Record<OwnState, string> = {
  sending: "sending…",
  retrying: "retrying…",
  waiting: "waiting…",
  sent: "sent",
  verified: "verified",
  healing: "healing…",
  unconfirmed: "not confirmed",
  deleted: "deleted",
};

const OWN_HINT: Record<OwnState, string> = {
  sending: "Sending to the server",
  retrying: "The server did not answer yet; sending again with the same id",
  waiting: "Sending too fast: it goes out, with the same id, as soon as the server allows",
  sent: "The server acknowledged it; waiting to see it in the room",
  verified: "Seen in the room's list: it cannot be lost",
  healing: "It was missing from the room's list; asking the server to put it back",
  unconfirmed: "The server gave a final no to putting it back (it knows no such message); checks ended",
  deleted: "An operator deleted it",
};

export class MessageListView {
  private readonly rows = new Map<string, { node: HTMLLIElement; signature: string }>();
  private readonly empty = el("li", { class: "messages__empty", text: "No messages yet. Say hello!" });
  /** Above the first message the reader has not seen since coming back. */
  private readonly divider = el(
    "li",
    { class: "messages__divider", attrs: { "role": "separator", "aria-label": "New messages" } },
    el("span", { text: "New messages" }),
  );

  /** Scrolled within this many pixels of the top, the list asks for older messages. */
  static readonly NEAR_TOP_PX = 120;

  constructor(
    private readonly list: HTMLElement,
    private readonly scroller: HTMLElement,
    /** above the list: "Loading older messages…", "Start of the room", or why older ones did not load */
    private readonly marker: HTMLElement,
    /** Stop, edits, history and reactions, handled by the controller */
    private readonly actions: RowActions,
  ) {}

  /** Calls `load` whenever the reader scrolls near the top. */
  onNearTop(load: () => void): void {
    this.scroller.addEventListener(
      "scroll",
      () => {
        if (this.nearTop()) load();
      },
      { passive: true },
    );
  }

  /** Near the top, or the messages do not even fill the box (no scroll event will ever come). */
  nearTop(): boolean {
    return this.scroller.scrollTop <= MessageListView.NEAR_TOP_PX;
  }

  /**
   * Runs `change` (rows added above, the marker's text changed) keeping what the reader sees
   * where it was: the first row in view stays at the same height on screen.
   */
  keepPosition(change: () => void): void {
    const anchor = this.firstRowInView();
    const top = anchor?.getBoundingClientRect().top;
    change();
    if (anchor?.isConnected && top !== undefined) this.scroller.scrollTop += anchor.getBoundingClientRect().top - top;
  }

  private firstRowInView(): HTMLElement | null {
    const viewTop = this.scroller.getBoundingClientRect().top;
    for (const row of this.list.children) if (row.getBoundingClientRect().bottom > viewTop) return row as HTMLElement;
    return null;
  }

  /** One line in every state, so switching states never moves the messages below; null (kv rooms): hidden. */
  showHistory(state: HistoryState | null, room: string): void {
    this.marker.hidden = state === null;
    if (!state) return;
    this.marker.textContent =
      state.kind === "loading"
        ? "Loading older messages…"
        : state.kind === "start"
          ? `Start of #${room}`
          : state.kind === "failed"
            ? `Older messages did not load (${state.reason}); scroll up to try again.`
            : "Scroll up for older messages";
    this.marker.className = `history history--${state.kind}`;
  }

  /**
   * Keeps a reader who was at the newest message there when the list grows or the box shrinks
   * by themselves (a font loading, a notice appearing above) rather than by a render.
   */
  pinToBottom(): void {
    let atBottom = this.atBottom();
    this.scroller.addEventListener("scroll", () => (atBottom = this.atBottom()), { passive: true });
    const keep = new ResizeObserver(() => {
      if (atBottom) this.scrollToEnd();
    });
    keep.observe(this.list);
    keep.observe(this.scroller);
  }

  /** Scrolled to (or near) the newest message. */
  atBottom(): boolean {
    return this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 48;
  }

  onScroll(handler: () => void): void {
    this.scroller.addEventListener("scroll", handler, { passive: true });
  }

  /** `dividerBefore`: the id of the first message the reader has not seen, or null for no divider. */
  render(rows: Row[], dividerBefore: string | null = null): void {
    const atBottom = this.atBottom();
    const nodes: HTMLLIElement[] = [];
    const keep = new Set<string>();
    for (const row of rows) {
      keep.add(row.message.id);
      const { message } = row;
      const signature = JSON.stringify([
        message.status,
        message.error,
        message.text,
        message.author,
        message.stopped,
        message.version,
        message.reactions,
        row.own,
        row.stream,
        row.beingAnswered,
        row.asked,
        row.extras && { ...row.extras, draft: row.extras.draft !== null },
      ]);
      let entry = this.rows.get(row.message.id);
      if (!entry || entry.signature !== signature) {
        entry = { node: renderRow(row, this.actions), signature };
        this.rows.set(row.message.id, entry);
      }
      if (row.message.id === dividerBefore) nodes.push(this.divider);
      nodes.push(entry.node);
    }
    for (const id of this.rows.keys()) if (!keep.has(id)) this.rows.delete(id);
    this.place(nodes.length ? nodes : [this.empty]);
    if (atBottom) this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  /** Moves only what changed: the list is a live region, and re-inserting every row would re-announce it. */
  private place(nodes: HTMLLIElement[]): void {
    const wanted = new Set<Node>(nodes);
    let cursor = this.list.firstChild;
    const dropStale = () => {
      while (cursor && !wanted.has(cursor)) {
        const next = cursor.nextSibling;
        cursor.remove();
        cursor = next;
      }
    };
    for (const node of nodes) {
      dropStale();
      if (node === cursor) cursor = cursor.nextSibling;
      else this.list.insertBefore(node, cursor);
    }
    dropStale();
  }

  scrollToEnd(): void {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }
}

function renderRow({ message, own, stream, beingAnswered, extras, asked }: Row, actions: RowActions): HTMLLIElement {
  const ai = message.kind === "ai";
  const classes = ["msg", ai ? "msg--ai" : "msg--human"];
  if (own) classes.push("msg--own");
  if (stream) classes.push("msg--streaming", `stream--${stream}`);
  return el(
    "li",
    { class: classes.join(" "), attrs: { "data-id": message.id, "data-kind": message.kind } },
    el(
      "div",
      { class: "msg__meta" },
      el("span", { class: "msg__author", text: message.author }),
      ai ? el("span", { class: "tag tag--ai", text: "AI" }) : null,
      el("time", {
        class: "msg__time",
        text: formatTime(message.createdAt),
        attrs: { datetime: new Date(message.createdAt).toISOString(), title: formatDateTime(message.createdAt) },
      }),
      own
        ? el("span", { class: `msg__state state--${own}`, text: OWN_LABEL[own], attrs: { title: OWN_HINT[own] } })
        : null,
      message.stopped
        ? el("span", {
            class: "tag tag--stopped",
            text: "stopped",
            attrs: { title: "Stop was pressed: this is what the bot had written until then" },
          })
        : null,
      stream === "streaming" && asked ? stopButton(message.id, actions.stop) : null,
      extras ? regenerateButton(message, extras, actions) : null,
      extras ? editedTag(message, extras, actions) : null,
      extras ? editButton(message, extras, actions) : null,
    ),
    extras?.draft != null
      ? editForm(message, extras, actions)
      : messageText(message, stream === "streaming" || stream === "stopping"),
    extras ? historyList(extras) : null,
    extras ? reactionBar(message, extras, actions) : null,
    stream && STREAM_NOTE[stream]
      ? el("p", { class: `msg__status msg__status--${stream}`, text: STREAM_NOTE[stream] })
      : null,
    // The reply being written below says more than "thinking".
    beingAnswered ? null : statusLine(message),
  );
}

/**
 * People's messages are plain text, as typed; AI replies are Markdown (markdown.ts), which
 * models write and people do not expect to be interpreted. While a reply streams, the cursor
 * follows its last line.
 */
function messageText(message: Message, writing: boolean): HTMLElement {
  const cursor = writing ? el("span", { class: "msg__cursor", attrs: { "aria-hidden": "true" } }) : null;
  if (message.kind !== "ai") return el("p", { class: "msg__text", text: message.text }, cursor);
  return el("div", { class: "msg__text msg__text--md" }, renderMarkdown(message.text), cursor);
}

function stopButton(id: string, onStop: (id: string) => void): HTMLButtonElement {
  const button = el("button", {
    class: "msg__stop",
    text: "Stop",
    attrs: {
      "type": "button",
      "aria-label": "Stop this reply",
      "title": "Ask the bot to stop here; the reply keeps what it wrote",
    },
  });
  button.addEventListener("click", () => {
    button.disabled = true;
    onStop(id);
  });
  return button;
}

/** What the bot is doing about a human message. */
function statusLine(message: Message): HTMLElement | null {
  if (message.kind !== "human") return null;
  if (message.status === "processing")
    return el("p", { class: "msg__status msg__status--thinking", text: "AI is thinking…" });
  if (message.status === "failed") {
    return el("p", {
      class: "msg__status msg__status--failed",
      text: `AI reply failed: ${message.error ?? "no reason given"}`,
    });
  }
  return null;
}
