// What every browser test file sets up: one `wrangler dev` and one Chromium for the
// file, and fresh browser profiles (own localStorage) closed after each test.
import type { Browser, BrowserContext, BrowserContextOptions, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll } from "vitest";
import { startLocalWorker, type LocalWorker, type LocalWorkerOptions } from "../../../scripts/local-worker";
import { launchChromium, watchPage } from "./browser";

export type BrowserHarness = {
  readonly worker: LocalWorker;
  readonly browser: Browser;
  /** A page in a fresh profile (e.g. `{ colorScheme: "dark" }`), its errors and dialogs watched; not navigated yet. */
  newPage(options?: BrowserContextOptions): Promise<{ page: Page; seen: ReturnType<typeof watchPage> }>;
};

/** Registers the file's hooks; the worker and browser are there once beforeAll ran. */
export function useBrowserHarness(workerOptions: LocalWorkerOptions = {}): BrowserHarness {
  let worker: LocalWorker | undefined;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    // Each kept as soon as it is up: if the other fails, afterAll still stops this one.
    const [started, launched] = await Promise.allSettled([startLocalWorker(workerOptions), launchChromium()]);
    if (started.status === "fulfilled") worker = started.value;
    if (launched.status === "fulfilled") browser = launched.value;
    for (const result of [started, launched]) if (result.status === "rejected") throw result.reason;
  });

  afterAll(async () => {
    await browser?.close();
    await worker?.stop();
  });

  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((c) => c.close()));
  });

  return {
    get worker() {
      if (!worker) throw new Error("the worker starts in beforeAll");
      return worker;
    },
    get browser() {
      if (!browser) throw new Error("the browser starts in beforeAll");
      return browser;
    },
    async newPage(options) {
      const context = await this.browser.newContext(options);
      contexts.push(context);
      const page = await context.newPage();
      return { page, seen: watchPage(page) };
    },
  };
}
