import { defineConfig } from "vitest/config";
import { cloudflareTest } from "@cloudflare/vitest-plugin";

// Two projects: "worker" runs inside workerd (the real Worker and Room DO, real KV);
// "node" drives a real `wrangler dev` over HTTP/WebSocket (bot, race lab, browser).
export default defineConfig({
  test: {
    // Worker JSON logs are shown only for failing tests.
    silent: "passed-only",
    projects: [
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: { ADMIN_TOKEN: "test-admin-token", BOT_TOKEN: "test-bot-token" },
            },
          }),
        ],
        test: { name: "worker", include: ["test/worker/**/*.test.ts"], testTimeout: 60_000 },
      },
      {
        test: {
          name: "node",
          include: ["test/node/**/*.test.ts"],
          environment: "node",
          testTimeout: 180_000,
          hookTimeout: 180_000,
          // Each file starts its own wrangler dev; two cores fit one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
