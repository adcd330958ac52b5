// The flag editor: default mode, do percent and per-room overrides, edited as a
// draft and saved as one whole document (PUT replaces it).
import type { Flags } from "../../shared/flags";
import type { PathMode } from "../../shared/message";
import { byId, el } from "../dom";
import { normalizeRoom } from "../chat/location";
import { diffFlags } from "./describe";

export class FlagForm {
  private saved: Flags = { defaultMode: "kv", doPercent: 0, rooms: {} };
  private draft: Flags = structuredClone(this.saved);
  private readonly defaultMode = byId<HTMLSelectElement>("default-mode");
  private readonly doPercent = byId<HTMLInputElement>("do-percent");
  private readonly overrides = byId("overrides");
  private readonly newRoom = byId<HTMLInputElement>("override-room");
  private readonly newMode = byId<HTMLSelectElement>("override-mode");
  private readonly status = byId("flag-status");

  /** `onSave` reports a long flip's progress (rooms flushed of all leaving do mode) as it goes. */
  constructor(
    private readonly onSave: (flags: Flags, progress: (flushed: number, total: number) => void) => Promise<void>,
  ) {
    this.defaultMode.addEventListener("change", () => {
      this.draft.defaultMode = this.defaultMode.value as PathMode;
      this.changed();
    });
    this.doPercent.addEventListener("input", () => {
      const value = Math.round(Number(this.doPercent.value));
      if (Number.isFinite(value)) this.draft.doPercent = Math.min(100, Math.max(0, value));
      this.changed();
    });
    byId("add-override").addEventListener("click", () => this.addOverride());
    this.newRoom.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        this.addOverride();
      }
    });
    byId("discard-flag").addEventListener("click", () => this.show(this.saved, true));
    byId<HTMLFormElement>("flag-form").addEventListener("submit", (event) => {
      event.preventDefault();
      void this.save();
    });
  }

  get dirty(): boolean {
    return diffFlags(this.saved, this.draft).length > 0;
  }

  /** The server's flag; unsaved edits are kept unless `force`. */
  show(flags: Flags, force = false): void {
    const editing = this.dirty;
    this.saved = { defaultMode: flags.defaultMode, doPercent: flags.doPercent, rooms: { ...flags.rooms } };
    if (editing && !force) return this.changed();
    this.draft = structuredClone(this.saved);
    this.defaultMode.value = this.draft.defaultMode;
    this.doPercent.value = String(this.draft.doPercent);
    this.changed();
  }

  /** A quick flip from the rooms table also lands in the draft, so a later save keeps it. */
  setRoom(room: string, mode: PathMode): void {
    this.draft.rooms[room] = mode;
    this.saved.rooms[room] = mode;
    this.changed();
  }

  private addOverride(): void {
    const room = normalizeRoom(this.newRoom.value);
    if (!room) {
      this.setStatus("Room names use a-z, 0-9 and dashes (up to 64).", "error");
      return;
    }
    this.draft.rooms[room] = this.newMode.value as PathMode;
    this.newRoom.value = "";
    this.changed();
  }

  private async save(): Promise<void> {
    this.setStatus("Saving…", "info");
    try {
      await this.onSave(structuredClone(this.draft), (flushed, total) =>
        this.setStatus(`Flipping: ${flushed} of ${total} rooms flushed to KV…`, "info"),
      );
      this.setStatus("Saved.", "ok");
    } catch (err) {
      this.setStatus(`Not saved: ${err instanceof Error ? err.message : String(err)}`, "error");
    }
  }

  private changed(): void {
    this.renderOverrides();
    const changes = diffFlags(this.saved, this.draft);
    byId<HTMLButtonElement>("save-flag").disabled = changes.length === 0;
    byId<HTMLButtonElement>("discard-flag").hidden = changes.length === 0;
    if (changes.length) this.setStatus(`Unsaved: ${changes.join("; ")}`, "info");
    else if (this.status.dataset.kind === "info") this.setStatus("", "info");
  }

  private renderOverrides(): void {
    const rooms = Object.keys(this.draft.rooms).sort();
    if (!rooms.length) {
      this.overrides.replaceChildren(el("li", { class: "muted", text: "No per-room overrides." }));
      return;
    }
    this.overrides.replaceChildren(
      ...rooms.map((room) => {
        const select = el(
          "select",
          { attrs: { "aria-label": `Mode for ${room}` } },
          el("option", { text: "kv", attrs: { value: "kv" } }),
          el("option", { text: "do", attrs: { value: "do" } }),
        );
        select.value = this.draft.rooms[room]!;
        select.addEventListener("change", () => {
          this.draft.rooms[room] = select.value as PathMode;
          this.changed();
        });
        const remove = el("button", {
          class: "btn btn--ghost btn--small",
          text: "Remove",
          attrs: { "type": "button", "aria-label": `Remove override for ${room}` },
        });
        remove.addEventListener("click", () => {
          delete this.draft.rooms[room];
          this.changed();
        });
        return el("li", { class: "override" }, el("span", { class: "override__room", text: room }), select, remove);
      }),
    );
  }

  private setStatus(text: string, kind: "info" | "ok" | "error"): void {
    this.status.textContent = text;
    this.status.dataset.kind = kind;
    this.status.className = `form-status form-status--${kind}`;
  }
}
