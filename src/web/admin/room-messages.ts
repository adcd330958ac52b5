// One opened room on the operator page: its newest messages, each with a Delete
// action (confirmed first). Deleting leaves a tombstone the chat pages drop at once.
import { isNearCap, type RoomSize } from "../../shared/api";
import type { Message } from "../../shared/message";
import { byId, el, formatDateTime } from "../dom";

export type RoomMessagesActions = {
  load(room: string): Promise<Message[]>;
  /** the room's live messages and cap: near the cap, the card says so */
  size(room: string): Promise<RoomSize>;
  remove(room: string, message: Message): Promise<void>;
  /** a deletion went through: the audit has a new entry */
  onDeleted(): void;
  onError(err: unknown): void;
};

export class RoomMessages {
  private readonly card = byId("room-messages-card");
  private readonly title = byId("room-messages-title");
  private readonly list = byId("room-messages");
  private readonly status = byId("room-messages-status");
  private readonly sizeLine = byId("room-size");
  private room: string | null = null;

  constructor(private readonly actions: RoomMessagesActions) {
    byId("room-messages-close").addEventListener("click", () => this.close());
    byId("room-messages-reload").addEventListener("click", () => void this.reload());
  }

  async open(room: string): Promise<void> {
    this.room = room;
    this.title.textContent = `#${room}: newest messages`;
    this.card.hidden = false;
    this.setStatus("");
    await this.reload();
    this.card.scrollIntoView({ block: "nearest" });
  }

  close(): void {
    this.room = null;
    this.card.hidden = true;
    this.list.replaceChildren();
  }

  private async reload(): Promise<void> {
    const room = this.room;
    if (!room) return;
    try {
      const [messages, size] = await Promise.all([this.actions.load(room), this.actions.size(room)]);
      if (room !== this.room) return;
      this.render(room, messages);
      this.showSize(room, size);
    } catch (err) {
      this.actions.onError(err);
    }
  }

  /** "Holds N of M messages", and a warning near the cap (human posts get 507 at it). */
  private showSize(room: string, { count, maxMessages }: RoomSize): void {
    const near = isNearCap(count, maxMessages);
    const of = maxMessages ? ` of its cap of ${maxMessages.toLocaleString("en")}` : " (no cap)";
    this.sizeLine.textContent =
      `#${room} holds ${count.toLocaleString("en")} messages${of}.` +
      (near ? " Near its cap: new posts are refused at the cap. Purge old messages or raise the cap." : "");
    this.sizeLine.className = near ? "notice" : "muted";
    this.sizeLine.dataset.nearCap = String(near);
  }

  private render(room: string, messages: Message[]): void {
    if (!messages.length) {
      this.list.replaceChildren(el("li", { class: "muted", text: "No messages in this room." }));
      return;
    }
    this.list.replaceChildren(...[...messages].reverse().map((message) => this.row(room, message)));
  }

  private row(room: string, message: Message): HTMLLIElement {
    const remove = el("button", {
      class: "btn btn--danger btn--small",
      text: "Delete",
      attrs: { "type": "button", "aria-label": `Delete message ${message.id} by ${message.author}` },
    });
    remove.addEventListener("click", () => void this.confirmDelete(room, message, remove));
    return el(
      "li",
      { class: "admin-msg", attrs: { "data-id": message.id } },
      el(
        "div",
        { class: "admin-msg__head" },
        el("span", { class: "admin-msg__author", text: message.author }),
        message.kind === "ai" ? el("span", { class: "tag tag--ai", text: "AI" }) : null,
        el("time", {
          text: formatDateTime(message.createdAt),
          attrs: { datetime: new Date(message.createdAt).toISOString() },
        }),
      ),
      el("p", { class: "admin-msg__text", text: message.text }),
      remove,
    );
  }

  private async confirmDelete(room: string, message: Message, button: HTMLButtonElement): Promise<void> {
    const preview = message.text.length > 80 ? `${message.text.slice(0, 80)}…` : message.text;
    if (
      !window.confirm(
        `Delete this message by ${message.author} from #${room}?\n\n“${preview}”\n\nOpen chat pages remove it at once; it cannot be restored.`,
      )
    )
      return;
    button.disabled = true;
    try {
      await this.actions.remove(room, message);
      this.setStatus(`Deleted ${message.id}.`);
      this.actions.onDeleted();
      await this.reload();
    } catch (err) {
      button.disabled = false;
      this.actions.onError(err);
    }
  }

  private setStatus(text: string): void {
    this.status.textContent = text;
  }
}
