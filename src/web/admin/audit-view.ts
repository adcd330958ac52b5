// The audit trail, newest first: flag changes (when, who, what changed) and message
// deletions (when, who, which message of which room).
import type { DeletionAuditEntry } from "../../shared/api";
import type { FlagAuditEntry } from "../../shared/flags";
import { el, formatDateTime } from "../dom";
import { diffFlags } from "./describe";

type Entry = { at: number; who: string; kind: "flag" | "deletion"; lines: string[] };

export function renderAudit(target: HTMLElement, audit: FlagAuditEntry[], deletions: DeletionAuditEntry[]): void {
  const entries: Entry[] = [
    ...audit.map((entry): Entry => {
      const changes = diffFlags(entry.before, entry.after);
      return { at: entry.at, who: entry.who, kind: "flag", lines: changes.length ? changes : ["no change"] };
    }),
    ...deletions.map((entry): Entry => ({
      at: entry.at,
      who: entry.who,
      kind: "deletion",
      lines: [`deleted ${entry.kind} message ${entry.id} in #${entry.room}`],
    })),
  ].sort((a, b) => b.at - a.at);
  if (!entries.length) {
    target.replaceChildren(
      el("li", { class: "muted", text: "No changes yet: the flag still has its defaults and no message was deleted." }),
    );
    return;
  }
  target.replaceChildren(
    ...entries.map((entry) =>
      el(
        "li",
        { class: `audit-entry audit-entry--${entry.kind}` },
        el(
          "div",
          { class: "audit-entry__head" },
          el("time", { text: formatDateTime(entry.at), attrs: { datetime: new Date(entry.at).toISOString() } }),
          el("span", { class: "audit-entry__who", text: entry.who }),
        ),
        el("ul", { class: "audit-entry__changes" }, ...entry.lines.map((c) => el("li", { text: c }))),
      ),
    ),
  );
}
