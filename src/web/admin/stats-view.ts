// Per-mode figures side by side: the A/B comparison of the two paths.
import type { ModeStats, StatsResponse } from "../../shared/api";
import { el } from "../dom";
import { formatMs, formatPercent } from "./describe";

const ROWS: { label: string; hint: string; value: (s: ModeStats) => string }[] = [
  {
    label: "Rooms",
    hint: "do: rooms in do mode (the registry shards' lists); kv: not counted (that would mean listing every room)",
    value: (s) => (s.rooms === null ? "not counted" : String(s.rooms)),
  },
  { label: "Posts", hint: "messages stored (human / AI)", value: (s) => `${s.posts} (${s.humanPosts} / ${s.aiPosts})` },
  {
    label: "Heal requests",
    hint: "clients asked to re-add a message they could not see",
    value: (s) => String(s.healsRequested),
  },
  {
    label: "Misses healed",
    hint: "heals that found the message really missing and put it back",
    value: (s) => String(s.healsReadded),
  },
  {
    label: "Heal rate",
    hint: "misses healed per post: messages the path lost",
    value: (s) => formatPercent(s.healsReadded, s.posts),
  },
  {
    label: "Time to heal (mean / max)",
    hint: "from a lost message's creation to its heal",
    value: (s) => `${formatMs(s.healDelayMeanMs)} / ${formatMs(s.healDelayMaxMs)}`,
  },
];

export function renderStats(table: HTMLTableElement, stats: StatsResponse): void {
  const head = el(
    "thead",
    {},
    el(
      "tr",
      {},
      el("th", { text: "Figure", attrs: { scope: "col" } }),
      el("th", { text: "kv (legacy)", attrs: { scope: "col" } }),
      el("th", { text: "do (serialized)", attrs: { scope: "col" } }),
    ),
  );
  const body = el(
    "tbody",
    {},
    ...ROWS.map((row) =>
      el(
        "tr",
        { attrs: { "data-figure": row.label } },
        el("th", { text: row.label, attrs: { scope: "row", title: row.hint } }),
        el("td", { class: "num", attrs: { "data-mode": "kv" }, text: row.value(stats.modes.kv) }),
        el("td", { class: "num", attrs: { "data-mode": "do" }, text: row.value(stats.modes.do) }),
      ),
    ),
  );
  table.replaceChildren(head, body);
}
