// Client keys: an IPv4 address as is, an IPv6 address as its /64 (however it is
// written), and the RATE_LIMIT_EXEMPT list read with the same rule.
import { describe, expect, it } from "vitest";
import { UNKNOWN_CLIENT, clientKey, isExempt } from "../../src/limits/client-key";
import { secondsToNextWindow } from "../../src/limits/post-limit";

describe("client keys", () => {
  it.each([
    ["203.0.113.7", "203.0.113.7"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:0DB8:0001:0002::9", "2001:db8:1:2::/64"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["1::2:3:4:5:1.2.3.4", "1:0:2:3::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["::ffff:198.51.100.9", "198.51.100.9"],
    ["2001:db8:1:2::/64", "2001:db8:1:2::/64"],
    ["", UNKNOWN_CLIENT],
    [null, UNKNOWN_CLIENT],
  ])("%s → %s", (address, key) => {
    expect(clientKey(address)).toBe(key);
  });

  it("reads RATE_LIMIT_EXEMPT as addresses or keys", () => {
    const env = { RATE_LIMIT_EXEMPT: " 127.0.0.1, ::1 ,2001:db8:9::/64" };
    expect(isExempt(env, "127.0.0.1")).toBe(true);
    expect(isExempt(env, clientKey("::1"))).toBe(true);
    expect(isExempt(env, clientKey("2001:db8:9:0:ffff::1"))).toBe(true);
    expect(isExempt(env, clientKey("2001:db8:9:1::1"))).toBe(false);
    expect(isExempt({ RATE_LIMIT_EXEMPT: "" }, UNKNOWN_CLIENT)).toBe(false);
  });

  it("says how long until the limiter's window rolls over", () => {
    expect(secondsToNextWindow(1_000_000)).toBe(10);
    expect(secondsToNextWindow(1_000_001)).toBe(10);
    expect(secondsToNextWindow(1_009_001)).toBe(1);
    expect(secondsToNextWindow(1_009_999)).toBe(1);
    expect(secondsToNextWindow(1_004_500, 60)).toBe(16);
  });
});
