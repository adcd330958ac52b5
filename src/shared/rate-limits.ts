// The `[[ratelimits]]` bindings as wrangler.toml declares them. The runtime does not tell a
// Worker its limiter's period, yet Retry-After needs it: this table is the one copy the code
// reads, and a test fails when it and wrangler.toml disagree. Periods may only be 10 or 60.
export const RATE_LIMITS = {
  HEAL_LIMITER: { limit: 600, period: 60 },
  POST_LIMITER: { limit: 20, period: 10 },
  READ_LIMITER: { limit: 300, period: 10 },
  ROOM_LIMITER: { limit: 10, period: 60 },
  STOP_LIMITER: { limit: 10, period: 60 },
} as const satisfies Record<string, { limit: number; period: 10 | 60 }>;
