// The bots: each with its model, rooms and work (last seen, answered, failed, tokens), a
// button to rotate its token and one to revoke it; a form to create one, and one to set a
// room's default bot. A new token is shown once, in a field the operator can copy.
import type { BotListEntry, BotTokenResponse, BotsResponse } from "../../shared/bots";
import { byId, el, formatDateTime } from "../dom";

export type BotActions = {
  create: (bot: { name: string; model: string; rooms: string[] | "all" }) => Promise<BotTokenResponse>;
  rotate: (name: string) => Promise<BotTokenResponse>;
  revoke: (name: string) => Promise<void>;
  setDefault: (room: string, bot: string | null) => Promise<void>;
  changed: () => void;
  failed: (err: unknown) => void;
};

const number = (n: number) => Math.round(n).toLocaleString();

/** How long a button waits for its confirming second press. */
const CONFIRM_MS = 5_000;

/**
 * A button that acts on its second press within CONFIRM_MS: the first turns it into "Sure?"
 * (its accessible name says what a second press does), so one slip cannot revoke a bot.
 */
function twoStep(button: HTMLButtonElement, confirmLabel: string, run: () => Promise<void>): void {
  const { textContent: text } = button;
  const label = button.getAttribute("aria-label") ?? "";
  let armed: ReturnType<typeof setTimeout> | undefined;
  const disarm = () => {
    clearTimeout(armed);
    armed = undefined;
    button.textContent = text;
    button.setAttribute("aria-label", label);
  };
  button.addEventListener("click", () => {
    if (!armed) {
      button.textContent = "Sure?";
      button.setAttribute("aria-label", confirmLabel);
      armed = setTimeout(disarm, CONFIRM_MS);
      return;
    }
    disarm();
    void run();
  });
}

export class BotsView {
  private readonly table = byId<HTMLTableElement>("bots");
  private readonly status = byId("bots-status");
  private readonly token = byId("bot-token");

  constructor(private readonly actions: BotActions) {
    byId<HTMLFormElement>("bot-form").addEventListener("submit", (event) => {
      event.preventDefault();
      void this.create();
    });
    byId<HTMLFormElement>("default-bot-form").addEventListener("submit", (event) => {
      event.preventDefault();
      void this.setDefault();
    });
  }

  render({ bots, defaults, statsError }: BotsResponse & { statsError?: string }): void {
    // Unchanged data keeps the same buttons, so a refresh never steals keyboard focus.
    const signature = JSON.stringify([bots, defaults, statsError]);
    if (this.table.dataset.signature === signature) return;
    this.table.dataset.signature = signature;
    const head = el(
      "thead",
      {},
      el(
        "tr",
        {},
        ...["Bot", "Model", "Rooms", "Last seen", "Answered", "Failed", "Tokens in", "Tokens out", "Token"].map((h) =>
          el("th", { text: h, attrs: { scope: "col" } }),
        ),
      ),
    );
    const rows = bots.map((bot) => this.row(bot, defaults));
    const empty = el("tr", {}, el("td", { class: "muted", text: "No bots yet.", attrs: { colspan: 9 } }));
    this.table.replaceChildren(head, el("tbody", {}, ...(rows.length ? rows : [empty])));
    byId("bots-stats-error").textContent = statsError ? `Counts unavailable: ${statsError}` : "";
    byId("bots-stats-error").hidden = !statsError;
  }

  private row(bot: BotListEntry, defaults: Record<string, string>): HTMLTableRowElement {
    const defaultOf = Object.keys(defaults).filter((room) => defaults[room] === bot.name);
    const rooms = bot.rooms === "all" ? "all rooms" : bot.rooms.map((r) => `#${r}`).join(", ");
    const rotate = el("button", {
      class: "btn btn--ghost btn--small",
      text: "Rotate",
      attrs: { "type": "button", "aria-label": `Rotate the token of ${bot.name}` },
    });
    twoStep(rotate, `Confirm: rotate the token of ${bot.name}`, () => this.rotate(bot.name, rotate));
    const revoke = el("button", {
      class: "btn btn--danger btn--small",
      text: "Revoke",
      attrs: { "type": "button", "aria-label": `Revoke ${bot.name}` },
    });
    twoStep(revoke, `Confirm: revoke ${bot.name}`, () => this.revoke(bot.name, revoke));
    return el(
      "tr",
      { attrs: { "data-bot": bot.name } },
      el("th", { text: `@${bot.name}`, attrs: { scope: "row" } }),
      el("td", { text: bot.model }),
      el(
        "td",
        {},
        rooms,
        defaultOf.length
          ? el("span", { class: "muted", text: ` (default in ${defaultOf.map((r) => `#${r}`).join(", ")})` })
          : null,
      ),
      el("td", { text: bot.lastSeen ? formatDateTime(bot.lastSeen) : "never" }),
      el("td", { class: "num", text: number(bot.answered) }),
      el("td", { class: "num", text: number(bot.failed) }),
      el("td", { class: "num", text: number(bot.tokensIn) }),
      el("td", { class: "num", text: number(bot.tokensOut) }),
      el("td", { class: "bot-actions" }, rotate, revoke),
    );
  }

  private showToken({ bot, token }: BotTokenResponse, what: string): void {
    const field = el("input", {
      class: "bot-token__value",
      attrs: { "readonly": true, "value": token, "aria-label": `Token of ${bot.name}`, "spellcheck": "false" },
    });
    this.token.replaceChildren(
      el("p", { text: `${what} @${bot.name}. Its token is shown only now: give it to the bot as BOT_TOKEN.` }),
      field,
    );
    this.token.hidden = false;
    field.select();
  }

  private say(text: string): void {
    this.status.textContent = text;
  }

  private async create(): Promise<void> {
    const name = byId<HTMLInputElement>("bot-name").value.trim();
    const model = byId<HTMLInputElement>("bot-model").value.trim();
    const roomsText = byId<HTMLInputElement>("bot-rooms").value.trim();
    const rooms =
      roomsText === "all" || roomsText === "*"
        ? "all"
        : roomsText
            .split(",")
            .map((r) => r.trim().replace(/^#/, ""))
            .filter(Boolean);
    try {
      this.showToken(await this.actions.create({ name, model, rooms }), "Created");
      byId<HTMLFormElement>("bot-form").reset();
      this.say(`Created @${name}.`);
      this.actions.changed();
    } catch (err) {
      this.say(`Could not create the bot: ${(err as Error).message}`);
    }
  }

  private async rotate(name: string, button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    try {
      this.showToken(await this.actions.rotate(name), "New token for");
      this.say(`Rotated the token of @${name}.`);
      this.actions.changed();
    } catch (err) {
      this.actions.failed(err);
    } finally {
      button.disabled = false;
    }
  }

  private async revoke(name: string, button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    try {
      await this.actions.revoke(name);
      this.say(`Revoked @${name}.`);
      this.actions.changed();
    } catch (err) {
      button.disabled = false;
      this.actions.failed(err);
    }
  }

  private async setDefault(): Promise<void> {
    const room = byId<HTMLInputElement>("default-room").value.trim().replace(/^#/, "");
    const bot = byId<HTMLInputElement>("default-bot").value.trim().replace(/^@/, "");
    try {
      await this.actions.setDefault(room, bot || null);
      this.say(bot ? `@${bot} now answers unmentioned messages in #${room}.` : `#${room} has no default bot now.`);
      this.actions.changed();
    } catch (err) {
      this.say(`Could not set the default: ${(err as Error).message}`);
    }
  }
}
