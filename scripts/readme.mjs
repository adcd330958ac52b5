// `npm run readme`: README.md is docs/sections/*.md joined in reading order. Edit the
// sections, then run this; `npm test` checks that the README is current.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ORDER = ["intro", "core", "web", "bot", "race-bench", "layout"];
const root = fileURLToPath(new URL("..", import.meta.url));
const render = () => ORDER.map((name) => readFileSync(`${root}docs/sections/${name}.md`, "utf8").trimEnd()).join("\n\n") + "\n";

if (process.argv.includes("--check")) {
  if (readFileSync(`${root}README.md`, "utf8") !== render()) {
    console.error("README.md is not the join of docs/sections/*.md: run `npm run readme`.");
    process.exit(1);
  }
} else {
  writeFileSync(`${root}README.md`, render());
}
