// The rendered pages say no measured number of their own: outside the figure blocks (rendered
// from result files by `npm run readme`), a number with a unit of speed or share is a definition
// from the allow-list below, or a figure someone typed.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../scripts/local-worker";

const DOCS = readdirSync(join(PROJECT_ROOT, "docs")).filter((f) => f.endsWith(".md"));
const PAGES = ["README.md", ...DOCS.map((f) => `docs/${f}`)];
const MEASURE = /\d[\d,.]*\s?(?:ms|%|×|msgs?\/s|messages\/s)(?![\w])/g;

/** Numbers that define something (a cadence, a limit, a target, an option), each with the phrase around it. */
const DEFINITIONS = [
  "every 50 ms", // the room's push cadence for streams (STREAM_PUSH_MS)
  "every 100 ms", // the bot's stream calls, at most
  "every 250 ms", // one message per room per quarter second: the old Control design's arithmetic
  "per 10%", // the bot logs a pull's progress in steps
  "40% of 2.0 GB", // an example log line of a model pull
  "[ms, 1.4 ms)", // the lab's --poll-ms interval
  "300 ms polls", // the lab test's poll interval option
  "≤ 50 ms", // a target
  "per 50 ms", // the room's push cadence for streams, as the bot's page puts it
  "retrying in 3000 ms", // an example log line
  "retrying in 6000 ms", // an example log line
  "250 ms per tab", // the lab's round deadline
  "5 %", // a target (limits cost)
];

function prose(markdown: string): string[] {
  const lines: string[] = [];
  let inBlock = false;
  for (const line of markdown.split("\n")) {
    if (/^<!-- figures:[a-z0-9-]+ -->$/.test(line)) inBlock = true;
    else if (/^<!-- \/figures:[a-z0-9-]+ -->$/.test(line)) inBlock = false;
    else if (!inBlock) lines.push(line);
  }
  return lines;
}

describe("the rendered pages", () => {
  it("cover README.md and every page in docs/", () => {
    const expected = ["README.md", "docs/api.md", "docs/architecture.md", "docs/benchmarks.md", "docs/operations.md"];
    expect(PAGES).toEqual(expect.arrayContaining(expected));
  });

  it.each(PAGES)("%s types no measured number outside its figure blocks", (page) => {
    const typed: string[] = [];
    prose(readFileSync(join(PROJECT_ROOT, page), "utf8")).forEach((line, i) => {
      for (const match of line.matchAll(MEASURE)) {
        if (!DEFINITIONS.some((phrase) => line.includes(phrase) && phrase.includes(match[0].trim()))) {
          typed.push(`${page}:${i + 1}: ${match[0]} — ${line.trim().slice(0, 100)}`);
        }
      }
    });
    expect(typed).toEqual([]);
  });

  it("finds a typed figure when there is one", () => {
    const line = "Our room reached 312 msgs/s and a p99 of 41 ms.";
    expect([...line.matchAll(MEASURE)].map((m) => m[0])).toEqual(["312 msgs/s", "41 ms"]);
  });
});
