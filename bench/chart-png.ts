// `npx tsx bench/chart-png.ts [report.html] [out.png]`: a PNG of the race report's
// chart (for docs/lab.md), taken with Debian's Chromium through playwright-core.
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { PROJECT_ROOT } from "../scripts/local-worker";
import { sha256, withSourceHash } from "./lib/png-source";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

async function main(): Promise<void> {
  const report = resolve(PROJECT_ROOT, process.argv[2] ?? "docs/race-report.html");
  const out = resolve(PROJECT_ROOT, process.argv[3] ?? "docs/race-chart.png");
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1120, height: 800 }, deviceScaleFactor: 2 });
    await page.goto(pathToFileURL(report).href);
    // The report's hash goes into the PNG, so `npm test` sees when the two disagree.
    const png = await page.locator(".charts").screenshot();
    writeFileSync(out, withSourceHash(png, sha256(readFileSync(report))));
    console.log(`Wrote ${out}`);
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
