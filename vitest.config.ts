import { randomBytes } from "node:crypto";
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
              // Requests without cf-connecting-ip (every test that does not set one) share the
              // "unknown" client key: exempt, so only the tests of the limits meet them, with
              // addresses of their own. A small room cap keeps its test to a few sockets. Retention
              // off, so a room's alarm stops once KV is written (the retention tests set it per room).
              bindings: {
                // Random per run: the tests read them from env, and no token anywhere is guessable.
                ADMIN_TOKEN: randomBytes(24).toString("base64url"),
                BOT_TOKEN: randomBytes(24).toString("base64url"),
                RATE_LIMIT_EXEMPT: "unknown",
                ROOM_MAX_SOCKETS: "30",
                ALLOWED_ORIGINS: "https://friend.example",
                ROOM_RETENTION_DAYS: "0",
                // Stats to the local store (src/control/local-stats.ts), which the tests read back.
                STATS_STORE: "local",
                // The fuzz test's seed, to replay a failure: FUZZ_SEED=<seed> npx vitest run --project worker test/worker/fuzz.test.ts
                FUZZ_SEED: process.env.FUZZ_SEED ?? "",
              },
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
