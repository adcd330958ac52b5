// The flag's audit trail, newest first: when, who, and what changed.
import type { FlagAuditEntry } from "../../shared/flags";
import { el, formatDateTime } from "../dom";
import { diffFlags } from "./describe";

export function renderAudit(target: HTMLElement, audit: FlagAuditEntry[]): void {
  if (!audit.length) {
    target.replaceChildren(el("li", { class: "muted", text: "No changes yet: the flag still has its defaults." }));
    return;
  }
  target.replaceChildren(
    ...audit.map((entry) => {
      const changes = diffFlags(entry.before, entry.after);
      return el(
        "li",
        { class: "audit-entry" },
        el(
          "div",
          { class: "audit-entry__head" },
          el("time", { text: formatDateTime(entry.at), attrs: { datetime: new Date(entry.at).toISOString() } }),
          el("span", { class: "audit-entry__who", text: entry.who }),
        ),
        el("ul", { class: "audit-entry__changes" }, ...(changes.length ? changes : ["no change"]).map((c) => el("li", { text: c }))),
      );
    }),
  );
}
