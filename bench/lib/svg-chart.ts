// A grouped bar chart as inline SVG (no scripts, no external assets), with an
// optional whisker per bar (e.g. p50 bar, whisker up to p95, tick at max).

export type Bar = { value: number | null; whiskerTo?: number | null; tickAt?: number | null; label?: string };
export type Series = { name: string; color: string; bars: Bar[] };
export type BarChart = {
  title: string;
  yLabel: string;
  groups: string[];
  series: Series[];
  yMax?: number;
  format?: (v: number) => string;
};

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** A "nice" axis maximum: 1, 2 or 5 times a power of ten, at least `value`. */
function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

export function barChartSvg(chart: BarChart, width = 520, height = 300): string {
  const margin = { top: 34, right: 16, bottom: 58, left: 62 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const format = chart.format ?? ((v: number) => String(Math.round(v * 10) / 10));
  const values = chart.series.flatMap((s) => s.bars.flatMap((b) => [b.value ?? 0, b.whiskerTo ?? 0, b.tickAt ?? 0]));
  const yMax = chart.yMax ?? niceMax(Math.max(...values, 0));
  const y = (v: number) => margin.top + plotH - (Math.min(v, yMax) / yMax) * plotH;
  const groupW = plotW / Math.max(1, chart.groups.length);
  const barW = Math.min(46, (groupW * 0.7) / Math.max(1, chart.series.length));
  const parts: string[] = [];

  parts.push(
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="600">${esc(chart.title)}</text>`,
  );
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    parts.push(`<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    parts.push(
      `<text x="${margin.left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${esc(format(v))}</text>`,
    );
  }
  parts.push(
    `<text transform="translate(14 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(chart.yLabel)}</text>`,
  );

  chart.groups.forEach((group, g) => {
    const center = margin.left + groupW * (g + 0.5);
    parts.push(
      `<text x="${center}" y="${margin.top + plotH + 16}" text-anchor="middle" font-size="12">${esc(group)}</text>`,
    );
    chart.series.forEach((series, s) => {
      const bar = series.bars[g];
      if (!bar || bar.value === null) return;
      const x = center - (chart.series.length * barW) / 2 + s * barW;
      const top = y(bar.value);
      parts.push(
        `<rect x="${x + 2}" y="${top}" width="${barW - 4}" height="${Math.max(0.5, margin.top + plotH - top)}" fill="${series.color}"><title>${esc(`${series.name}, ${group}: ${format(bar.value)}`)}</title></rect>`,
      );
      const mid = x + barW / 2;
      if (bar.whiskerTo != null && bar.whiskerTo > bar.value) {
        parts.push(
          `<line x1="${mid}" x2="${mid}" y1="${top}" y2="${y(bar.whiskerTo)}" stroke="#333" stroke-width="1.5"/>`,
        );
        parts.push(
          `<line x1="${mid - 6}" x2="${mid + 6}" y1="${y(bar.whiskerTo)}" y2="${y(bar.whiskerTo)}" stroke="#333" stroke-width="1.5"/>`,
        );
      }
      if (bar.tickAt != null) parts.push(`<circle cx="${mid}" cy="${y(bar.tickAt)}" r="2.5" fill="#333"/>`);
      // The label sits above whatever is drawn highest (bar, whisker or dot).
      const label = bar.label ?? format(bar.value);
      const highest = y(Math.max(bar.value, bar.whiskerTo ?? 0, bar.tickAt ?? 0));
      parts.push(`<text x="${mid}" y="${highest - 6}" text-anchor="middle" font-size="10">${esc(label)}</text>`);
    });
  });
  parts.push(
    `<line x1="${margin.left}" x2="${width - margin.right}" y1="${margin.top + plotH}" y2="${margin.top + plotH}" stroke="#333"/>`,
  );

  // Legend under the axis.
  chart.series.forEach((series, s) => {
    const lx = margin.left + s * 120;
    const ly = height - 14;
    parts.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${series.color}"/>`);
    parts.push(`<text x="${lx + 18}" y="${ly}" font-size="12">${esc(series.name)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(chart.title)}" font-family="system-ui, sans-serif">${parts.join("")}</svg>`;
}
