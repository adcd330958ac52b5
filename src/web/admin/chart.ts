// Heals per minute for each mode over the last 30 minutes, drawn as inline SVG
// through DOM calls (no chart library, nothing for the CSP to object to).
// Each minute has a bar per mode: its light part counts heal requests, its dark
// part the misses really healed (readded).
import type { StatsResponse } from "../../shared/api";
import type { PathMode } from "../../shared/message";
import { el, svg } from "../dom";

const MINUTES = 30;
const MODES: PathMode[] = ["kv", "do"];
const WIDTH = 640;
const HEIGHT = 280;
const PAD = { left: 44, right: 10, top: 14, bottom: 34 };

export function renderHealChart(target: HTMLElement, timeline: StatsResponse["timeline"], now = Date.now()): void {
  const lastMinute = Math.floor(now / 60_000) * 60_000;
  const firstMinute = lastMinute - (MINUTES - 1) * 60_000;
  const slot = (minute: number) => Math.round((minute - firstMinute) / 60_000);
  const counts = new Map<string, { requested: number; readded: number }>();
  for (const point of timeline) {
    const index = slot(point.minute);
    if (index < 0 || index >= MINUTES) continue;
    counts.set(`${point.mode}:${index}`, { requested: point.requested, readded: point.readded });
  }
  const peak = Math.max(1, ...[...counts.values()].map((c) => c.requested));
  const top = niceCeiling(peak);

  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const slotWidth = plotWidth / MINUTES;
  const barWidth = Math.max(2, (slotWidth - 3) / MODES.length);
  const y = (value: number) => PAD.top + plotHeight * (1 - value / top);

  const chart = svg("svg", {
    class: "chart",
    attrs: {
      "viewBox": `0 0 ${WIDTH} ${HEIGHT}`,
      "role": "img",
      "aria-label": `Heals per minute by mode, last ${MINUTES} minutes`,
    },
  });
  for (const value of [0, top / 2, top]) {
    chart.append(
      svg("line", { class: "chart__grid", attrs: { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(value), y2: y(value) } }),
      svg("text", {
        class: "chart__label",
        text: formatCount(value),
        attrs: { "x": PAD.left - 8, "y": y(value) + 5, "text-anchor": "end" },
      }),
    );
  }
  const ticks: [number, string][] = [
    [0, `−${MINUTES - 1} min`],
    [Math.floor(MINUTES / 2), `−${MINUTES - 1 - Math.floor(MINUTES / 2)} min`],
    [MINUTES - 1, "now"],
  ];
  for (const [index, label] of ticks) {
    const anchor = index === 0 ? "start" : index === MINUTES - 1 ? "end" : "middle";
    const x = index === 0 ? PAD.left : index === MINUTES - 1 ? WIDTH - PAD.right : PAD.left + (index + 0.5) * slotWidth;
    chart.append(
      svg("text", { class: "chart__label", text: label, attrs: { x, "y": HEIGHT - 10, "text-anchor": anchor } }),
    );
  }
  for (let index = 0; index < MINUTES; index++) {
    MODES.forEach((mode, m) => {
      const count = counts.get(`${mode}:${index}`);
      if (!count || count.requested === 0) return;
      const x = PAD.left + index * slotWidth + 1.5 + m * barWidth;
      const minute = new Date(firstMinute + index * 60_000).toLocaleTimeString([], {
        hour: "2-digit",
        minute: "2-digit",
      });
      const tip = svg("title", {
        text: `${minute} ${mode}: ${count.requested} heal requests, ${count.readded} misses healed`,
      });
      chart.append(
        svg(
          "rect",
          {
            class: `chart__bar chart__bar--${mode} chart__bar--requested`,
            attrs: { x, y: y(count.requested), width: barWidth, height: y(0) - y(count.requested) },
          },
          tip,
        ),
      );
      if (count.readded > 0) {
        chart.append(
          svg(
            "rect",
            {
              class: `chart__bar chart__bar--${mode} chart__bar--readded`,
              attrs: { x, y: y(count.readded), width: barWidth, height: y(0) - y(count.readded) },
            },
            tip.cloneNode(true),
          ),
        );
      }
    });
  }
  chart.append(
    svg("line", { class: "chart__axis", attrs: { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(0), y2: y(0) } }),
  );

  const legend = el(
    "ul",
    { class: "legend" },
    ...MODES.flatMap((mode) => [
      el("li", {}, el("span", { class: `swatch swatch--${mode} swatch--readded` }), `${mode}: misses healed`),
      el("li", {}, el("span", { class: `swatch swatch--${mode} swatch--requested` }), `${mode}: heal requests`),
    ]),
  );
  const quiet = counts.size === 0;
  const caption = el("p", { class: "muted chart-caption", text: `No heal requests in the last ${MINUTES} minutes.` });
  target.replaceChildren(chart, legend, ...(quiet ? [caption] : []));
}

function niceCeiling(value: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * magnitude >= value) return Math.max(2, step * magnitude);
  return value;
}

function formatCount(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}
