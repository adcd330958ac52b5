// Worker entry: the API router, the static page, and the Durable Object classes.
import { router } from "./router";

export { Room } from "../room/room";
export { Control } from "../control/control";

export default {
  fetch: (request, env, ctx) => router.fetch(request, env, ctx),
} satisfies ExportedHandler<Env>;
