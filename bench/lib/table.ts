// Markdown tables: readable in a terminal and pasteable into the docs as they are.

export type Align = "left" | "right";

/** One row of a bench's targets table: `met` null when the run could not tell. */
export type TargetCheck = { name: string; target: string; measured: string; met: boolean | null };

export function markdownTable(header: string[], rows: (string | number)[][], align: Align[] = []): string {
  const cells = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, col) => Math.max(3, ...cells.map((row) => (row[col] ?? "").length)));
  const line = (row: string[]) =>
    `| ${row.map((cell, col) => (align[col] === "right" ? cell.padStart(widths[col]!) : cell.padEnd(widths[col]!))).join(" | ")} |`;
  const rule = `| ${widths.map((w, col) => (align[col] === "right" ? `${"-".repeat(w - 1)}:` : "-".repeat(w))).join(" | ")} |`;
  return [line(cells[0]!), rule, ...cells.slice(1).map(line)].join("\n");
}

/** "12.3" for a number, "—" for a missing value. */
export function fmt(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return value.toFixed(digits);
}

export function pct(part: number, whole: number): string {
  return whole === 0 ? "—" : `${((100 * part) / whole).toFixed(1)}%`;
}

const escapeHtml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** The same table as HTML, for the self-contained reports. */
export function htmlTable(header: string[], rows: string[][], align: Align[] = []): string {
  const cell = (tag: "th" | "td", text: string, col: number) =>
    `<${tag}${align[col] === "right" ? ' class="num"' : ""}>${escapeHtml(text)}</${tag}>`;
  const head = `<tr>${header.map((h, i) => cell("th", h, i)).join("")}</tr>`;
  const body = rows.map((row) => `<tr>${row.map((c, i) => cell("td", c, i)).join("")}</tr>`).join("\n");
  return `<table>\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}
