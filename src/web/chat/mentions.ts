// `@` in the composer offers the room's bots (those the operator set for it, from presence):
// a listbox under the text, driven from the keyboard (↑ ↓ choose, Enter or Tab insert, Escape
// closes) or by a click. The text box stays a plain textbox: it points at the active option
// with aria-activedescendant, and a status line says how many bots match.
import { el } from "../dom";

export type MentionBot = { name: string; model: string; default?: true };

/** The `@partial` the caret is in, if any: where it starts and what has been typed. */
function mentionAt(text: string, caret: number): { start: number; typed: string } | null {
  const match = /(^|[^\w@])@([a-z0-9-]{0,32})$/i.exec(text.slice(0, caret));
  if (!match) return null;
  return { start: caret - match[2]!.length - 1, typed: match[2]!.toLowerCase() };
}

export class MentionCompleter {
  private bots: MentionBot[] = [];
  private shown: MentionBot[] = [];
  private active = 0;

  constructor(
    private readonly box: HTMLTextAreaElement,
    private readonly list: HTMLElement,
    private readonly status: HTMLElement,
  ) {
    box.setAttribute("aria-autocomplete", "list");
    box.setAttribute("aria-controls", list.id);
    box.addEventListener("input", () => this.update());
    box.addEventListener("click", () => this.update());
    box.addEventListener("blur", () => setTimeout(() => this.close(), 150));
  }

  setBots(bots: MentionBot[]): void {
    this.bots = bots;
    if (!this.list.hidden) this.update();
  }

  /** Handles a key while the list is open; true when it did (the composer must not also act on it). */
  handleKey(event: KeyboardEvent): boolean {
    if (this.list.hidden || event.isComposing) return false;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.active = (this.active + step + this.shown.length) % this.shown.length;
      this.render();
    } else if ((event.key === "Enter" && !event.shiftKey) || event.key === "Tab") {
      this.insert(this.shown[this.active]!);
    } else if (event.key === "Escape") {
      this.close();
    } else {
      return false;
    }
    event.preventDefault();
    return true;
  }

  private update(): void {
    const at = mentionAt(this.box.value, this.box.selectionStart ?? this.box.value.length);
    this.shown = at ? this.bots.filter((bot) => bot.name.startsWith(at.typed)) : [];
    if (!this.shown.length) return this.close();
    this.active = Math.min(this.active, this.shown.length - 1);
    this.render();
  }

  private render(): void {
    this.list.replaceChildren(
      ...this.shown.map((bot, i) => {
        const option = el(
          "li",
          {
            class: `mention${i === this.active ? " mention--active" : ""}`,
            attrs: { "id": `mention-${bot.name}`, "role": "option", "aria-selected": i === this.active },
          },
          el("span", { class: "mention__name", text: `@${bot.name}` }),
          el("span", { class: "mention__model muted", text: bot.default ? `${bot.model} · default` : bot.model }),
        );
        // mousedown, not click: the text box keeps its focus (and its caret).
        option.addEventListener("mousedown", (event) => {
          event.preventDefault();
          this.insert(bot);
        });
        return option;
      }),
    );
    this.list.hidden = false;
    this.box.setAttribute("aria-activedescendant", `mention-${this.shown[this.active]!.name}`);
    this.status.textContent = `${this.shown.length} bot${this.shown.length === 1 ? "" : "s"}: ↑ ↓ to choose, Enter to insert`;
  }

  private insert(bot: MentionBot): void {
    const caret = this.box.selectionStart ?? this.box.value.length;
    const at = mentionAt(this.box.value, caret);
    if (!at) return this.close();
    const before = `${this.box.value.slice(0, at.start)}@${bot.name} `;
    this.box.value = before + this.box.value.slice(caret).replace(/^ /, "");
    this.box.setSelectionRange(before.length, before.length);
    this.close();
    this.box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  private close(): void {
    if (this.list.hidden) return;
    this.list.hidden = true;
    this.list.replaceChildren();
    this.box.removeAttribute("aria-activedescendant");
    this.status.textContent = "";
    this.active = 0;
  }
}
