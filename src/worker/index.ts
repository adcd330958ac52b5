// Worker entry: the API router, the static page, and the Durable Object classes.
import { router } from "./router";
import { withCountedKv } from "./usage";
import { withNoSniff } from "./page";

export { Room } from "../room/room";
export { Control } from "../control/control";
export { RoomRegistry } from "../control/registry";
export { LocalStats } from "../control/local-stats";

export default {
  fetch: (request, env, ctx) => withNoSniff(withCountedKv(env, ctx, (counted) => router.fetch(request, counted, ctx))),
} satisfies ExportedHandler<Env>;
