// Server requests per delivered message: 10 idle and 10 active pages per mode,
// simulated with the lab's page-like tab (WebSocket in do mode, the page's cadence).
import type { PathMode } from "../../src/shared/message";
import { ChatClient } from "../lib/api";
import { round } from "../lib/stats";
import { PAGE_CADENCE, Tab, type OwnMessage } from "../lib/tab";
import { jitter, sleep, waitFor, now } from "../lib/time";

export type PageCounts = {
  pages: number;
  post: number;
  poll: number;
  heal: number;
  socketConnects: number;
  pings: number;
  pushesReceived: number;
};

export type RequestsModeResult = {
  mode: PathMode;
  seconds: number;
  posted: number;
  delivered: number;
  idle: PageCounts;
  active: PageCounts;
  /** polls + heals + socket connects + pings, all pages, per delivered message (the post itself not counted) */
  overheadPerDelivered: number | null;
  /** the same plus the posts */
  allPerDelivered: number | null;
  pushesPerDelivered: number | null;
  /** an idle page: HTTP requests per 30 s, and with its WebSocket pings */
  idlePagePer30s: { http: number; withPings: number };
};

export type RequestsOptions = {
  runTag: string;
  idlePages: number;
  activePages: number;
  windowMs: number;
  postEveryMs: [number, number];
};

function snapshot(tabs: Tab[]): PageCounts {
  return tabs.reduce<PageCounts>(
    (sum, tab) => ({
      pages: sum.pages + 1,
      // A post is a POST or (do rooms) a socket send: both are one request the server handles.
      post: sum.post + tab.client.counter.counts.post + tab.socketCounts.sends,
      poll: sum.poll + tab.client.counter.counts.poll,
      heal: sum.heal + tab.client.counter.counts.heal,
      socketConnects: sum.socketConnects + tab.socketCounts.connects,
      pings: sum.pings + tab.socketCounts.pingsSent,
      pushesReceived: sum.pushesReceived + tab.socketCounts.pushes,
    }),
    { pages: 0, post: 0, poll: 0, heal: 0, socketConnects: 0, pings: 0, pushesReceived: 0 },
  );
}

function minus(a: PageCounts, b: PageCounts): PageCounts {
  return {
    pages: a.pages,
    post: a.post - b.post,
    poll: a.poll - b.poll,
    heal: a.heal - b.heal,
    socketConnects: a.socketConnects - b.socketConnects,
    pings: a.pings - b.pings,
    pushesReceived: a.pushesReceived - b.pushesReceived,
  };
}

async function runMode(
  url: string,
  admin: ChatClient,
  mode: PathMode,
  options: RequestsOptions,
): Promise<RequestsModeResult> {
  const room = `bench-${options.runTag}-requests-${mode}`;
  await admin.setRoomMode(room, mode);
  const make = (name: string) =>
    new Tab({ client: new ChatClient(url), room, author: name, cadence: PAGE_CADENCE, push: true });
  const idle = Array.from({ length: options.idlePages }, (_, i) => make(`idle ${i + 1}`));
  const active = Array.from({ length: options.activePages }, (_, i) => make(`active ${i + 1}`));
  const all = [...idle, ...active];
  try {
    // Page loads are not part of the steady state: count from when every page is open.
    await Promise.all(all.map((tab) => tab.open()));
    const idleBefore = snapshot(idle);
    const activeBefore = snapshot(active);
    const started = now();
    const end = started + options.windowMs;
    const posted: OwnMessage[] = [];
    await Promise.all(
      active.map(async (tab, i) => {
        await sleep(jitter(0, options.postEveryMs[1]));
        for (let n = 1; now() < end; n++) {
          posted.push(await tab.post(`active page ${i + 1}, message ${n}`));
          await sleep(jitter(...options.postEveryMs));
        }
      }),
    );
    // Messages posted near the end get the time the page needs to verify them.
    await waitFor(() => active.every((tab) => tab.unverified === 0), now() + 2 * PAGE_CADENCE.fast[1], 100);
    const seconds = (now() - started) / 1000;
    const idleCounts = minus(snapshot(idle), idleBefore);
    const activeCounts = minus(snapshot(active), activeBefore);
    const delivered = posted.filter((m) => m.verifiedAt !== undefined).length;
    const overhead = (c: PageCounts) => c.poll + c.heal + c.socketConnects + c.pings;
    const per = (n: number) => (delivered ? round(n / delivered, 2) : null);
    const idleHttp = idleCounts.poll + idleCounts.heal + idleCounts.socketConnects;
    const idleScale = 30 / (seconds * Math.max(1, idleCounts.pages));
    return {
      mode,
      seconds: round(seconds, 1)!,
      posted: posted.length,
      delivered,
      idle: idleCounts,
      active: activeCounts,
      overheadPerDelivered: per(overhead(idleCounts) + overhead(activeCounts)),
      allPerDelivered: per(overhead(idleCounts) + overhead(activeCounts) + idleCounts.post + activeCounts.post),
      pushesPerDelivered: per(idleCounts.pushesReceived + activeCounts.pushesReceived),
      idlePagePer30s: {
        http: round(idleHttp * idleScale, 2)!,
        withPings: round((idleHttp + idleCounts.pings) * idleScale, 2)!,
      },
    };
  } finally {
    for (const tab of all) tab.stop();
  }
}

export async function requestsBench(
  url: string,
  adminToken: string,
  options: RequestsOptions,
  log: (line: string) => void,
): Promise<RequestsModeResult[]> {
  const admin = new ChatClient(url, { admin: adminToken });
  // Both modes at once (separate rooms): the load is a few requests a second.
  const results = await Promise.all((["kv", "do"] as const).map((mode) => runMode(url, admin, mode, options)));
  for (const r of results) {
    log(
      `  ${r.mode}: ${r.delivered}/${r.posted} delivered in ${r.seconds} s; ${r.overheadPerDelivered ?? "—"} requests per delivered message (+ the post); ` +
        `idle page: ${r.idlePagePer30s.http} HTTP requests per 30 s (${r.idlePagePer30s.withPings} with pings)`,
    );
  }
  return results;
}
