// The rooms that have messages, each with its mode, why it has it, a one-click flip,
// and a button that opens its newest messages (to delete one).
import type { Flags } from "../../shared/flags";
import type { PathMode } from "../../shared/message";
import { el } from "../dom";
import { roomPath } from "../chat/location";
import { modeReason } from "./describe";

export function renderRooms(
  target: HTMLElement,
  rooms: { name: string; mode: PathMode }[],
  flags: Flags,
  onFlip: (room: string, mode: PathMode) => void,
  onOpen: (room: string) => void,
): void {
  // Unchanged data keeps the same buttons, so a refresh never steals keyboard focus.
  const signature = JSON.stringify([rooms, flags]);
  if (target.dataset.signature === signature) return;
  target.dataset.signature = signature;
  if (!rooms.length) {
    target.replaceChildren(el("li", { class: "muted", text: "No rooms have messages yet." }));
    return;
  }
  target.replaceChildren(
    ...[...rooms]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map(({ name, mode }) => {
        const other: PathMode = mode === "kv" ? "do" : "kv";
        // Read aloud as "Switch <room> to <mode>"; shown as "Switch to <mode>" beside the room's name.
        const flip = el(
          "button",
          { class: "btn btn--small", attrs: { type: "button" } },
          "Switch ",
          el("span", { class: "visually-hidden", text: `${name} ` }),
          `to ${other}`,
        );
        flip.addEventListener("click", () => {
          flip.disabled = true;
          onFlip(name, other);
        });
        const open = el("button", {
          class: "btn btn--ghost btn--small",
          text: "Messages",
          attrs: { "type": "button", "aria-label": `Open the messages of ${name}` },
        });
        open.addEventListener("click", () => onOpen(name));
        return el(
          "li",
          { class: "room-row", attrs: { "data-room": name } },
          el("a", { class: "room-row__name", text: `#${name}`, attrs: { href: roomPath(name) } }),
          el("span", { class: `mode mode--${mode}`, text: mode }),
          el("span", { class: "room-row__why muted", text: modeReason(flags, name) }),
          open,
          flip,
        );
      }),
  );
}
