// docs/api.md names every route the router serves and every frame type, as headings: a route
// or frame added without its documentation fails here, and so does a heading for one removed.
import { describe, expect, it } from "vitest";
import apiDoc from "../../docs/api.md?raw";
import { CLIENT_FRAME_TYPES, SERVER_FRAME_TYPES } from "../../src/shared/frames";
import { router } from "../../src/worker/router";

const headings = (level: string) => apiDoc.split("\n").filter((line) => line.startsWith(`${level} `));
const underSection = (title: string) => {
  const lines = apiDoc.split("\n");
  const start = lines.indexOf(`## ${title}`);
  const end = lines.findIndex((line, i) => i > start && line.startsWith("## "));
  return lines.slice(start, end === -1 ? undefined : end).filter((line) => line.startsWith("### "));
};

/** The `code` spans of a heading that match `pattern`. */
const codeSpans = (heading: string, pattern: RegExp) =>
  [...heading.matchAll(/`([^`]+)`/g)].map((m) => m[1]!).filter((span) => pattern.test(span));

describe("docs/api.md", () => {
  it("has a heading for every route and method the router serves, and none it does not", () => {
    // itty-router keeps [method, regex, handlers, path]; `all` is the 405/404 fallback of each path.
    const served = router.routes
      .filter(([method, , , path]) => method !== "ALL" && path?.startsWith("/api/"))
      .map(([method, , , path]) => `${method} ${path}`);
    expect(served.length).toBeGreaterThan(15);
    const documented = underSection("Routes").flatMap((h) => codeSpans(h, /^(?:GET|POST|PUT|DELETE) \/api\//));
    expect(documented.sort()).toEqual([...new Set(served)].sort());
  });

  it("has a heading for every frame type, in the direction it travels", () => {
    const frames = underSection("Socket frames");
    const named = (direction: string) =>
      frames.filter((h) => h.startsWith(`### ${direction}`)).flatMap((h) => codeSpans(h, /^[a-z-]+$/));
    // `pong` is the runtime's answer to `ping`, named in the ping heading.
    expect(
      named("client → room")
        .filter((t) => t !== "pong")
        .sort(),
    ).toEqual([...CLIENT_FRAME_TYPES].sort());
    expect([...named("room → client"), "pong"].sort()).toEqual([...SERVER_FRAME_TYPES].sort());
    expect(headings("##")).toContain("## Socket frames");
  });
});
