// `npx tsx bench/chart-png.ts [report.html] [out.png]`: a PNG of the race report's
// chart (for the README), taken with Debian's Chromium through playwright-core.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { PROJECT_ROOT } from "../scripts/local-worker";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

async function main(): Promise<void> {
  const report = resolve(PROJECT_ROOT, process.argv[2] ?? "docs/race-report.html");
  const out = resolve(PROJECT_ROOT, process.argv[3] ?? "docs/race-chart.png");
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1120, height: 800 }, deviceScaleFactor: 2 });
    await page.goto(pathToFileURL(report).href);
    await page.locator(".charts").screenshot({ path: out });
    console.log(`Wrote ${out}`);
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
