// The HTTP API (docs/api.md; a test checks every route here is documented there).
// Each path lists its methods, then `all` answers 405.
import { Router, type IRequest } from "itty-router";
import { StatusError, errorResponse, json } from "./http";
import { deleteMessage, getFlags, getStats, inspectRoom, purgeRoom, putFlags, setRoomLimits } from "./routes/admin";
import { botMe, claimMessage, failMessage, listPending, releaseMessage, streamReply } from "./routes/bot";
import { createBot, listBots, revokeBot, rotateBot, setRoomBots } from "./routes/bots";
import {
  commentVersions,
  editComment,
  getComment,
  healComment,
  listComments,
  postComment,
  reactToComment,
  regenerateAnswer,
  stopReply,
} from "./routes/comments";
import { listRooms, listRoomsWithWork, roomSocket } from "./routes/rooms";
import { withPageHeaders } from "./page";

type Args = [Env, ExecutionContext];

const methodNotAllowed = (request: IRequest) => {
  throw new StatusError(405, `method ${request.method} not allowed on ${new URL(request.url).pathname}`);
};

export const router = Router<IRequest, Args>({
  catch: errorResponse,
})
  .get("/api/health", () => json({ ok: true }))
  .all("/api/health", methodNotAllowed)
  .get("/api/comments", listComments)
  .post("/api/comments", postComment)
  .all("/api/comments", methodNotAllowed)
  .get("/api/comments/:id", getComment)
  .all("/api/comments/:id", methodNotAllowed)
  .post("/api/comments/:id/edit", editComment)
  .all("/api/comments/:id/edit", methodNotAllowed)
  .get("/api/comments/:id/versions", commentVersions)
  .all("/api/comments/:id/versions", methodNotAllowed)
  .post("/api/comments/:id/reactions", reactToComment)
  .all("/api/comments/:id/reactions", methodNotAllowed)
  .post("/api/comments/:id/stop", stopReply)
  .all("/api/comments/:id/stop", methodNotAllowed)
  .post("/api/comments/:id/regenerate", regenerateAnswer)
  .all("/api/comments/:id/regenerate", methodNotAllowed)
  .get("/api/rooms", listRooms)
  .all("/api/rooms", methodNotAllowed)
  .get("/api/rooms/:room/ws", roomSocket)
  .all("/api/rooms/:room/ws", methodNotAllowed)
  // The heal's public name; the first version's path stays as its alias (the verification layer calls it).
  .post("/api/heal", healComment)
  .all("/api/heal", methodNotAllowed)
  .post("/api/admin/add-to-cache", healComment)
  .all("/api/admin/add-to-cache", methodNotAllowed)
  .get("/api/admin/flags", getFlags)
  .put("/api/admin/flags", putFlags)
  .all("/api/admin/flags", methodNotAllowed)
  .get("/api/admin/rooms/:room", inspectRoom)
  .all("/api/admin/rooms/:room", methodNotAllowed)
  .post("/api/admin/rooms/:room/purge", purgeRoom)
  .all("/api/admin/rooms/:room/purge", methodNotAllowed)
  .put("/api/admin/rooms/:room/limits", setRoomLimits)
  .all("/api/admin/rooms/:room/limits", methodNotAllowed)
  .delete("/api/admin/messages/:id", deleteMessage)
  .all("/api/admin/messages/:id", methodNotAllowed)
  .get("/api/admin/bots", listBots)
  .post("/api/admin/bots", createBot)
  .all("/api/admin/bots", methodNotAllowed)
  .post("/api/admin/bots/:name/rotate", rotateBot)
  .all("/api/admin/bots/:name/rotate", methodNotAllowed)
  .delete("/api/admin/bots/:name", revokeBot)
  .all("/api/admin/bots/:name", methodNotAllowed)
  .put("/api/admin/rooms/:room/bots", setRoomBots)
  .all("/api/admin/rooms/:room/bots", methodNotAllowed)
  .get("/api/admin/stats", getStats)
  .all("/api/admin/stats", methodNotAllowed)
  .get("/api/bot/me", botMe)
  .all("/api/bot/me", methodNotAllowed)
  .get("/api/bot/rooms", listRoomsWithWork)
  .all("/api/bot/rooms", methodNotAllowed)
  .get("/api/bot/pending", listPending)
  .all("/api/bot/pending", methodNotAllowed)
  .post("/api/bot/claim", claimMessage)
  .all("/api/bot/claim", methodNotAllowed)
  .post("/api/bot/release", releaseMessage)
  .all("/api/bot/release", methodNotAllowed)
  .post("/api/bot/fail", failMessage)
  .all("/api/bot/fail", methodNotAllowed)
  .post("/api/bot/stream", streamReply)
  .all("/api/bot/stream", methodNotAllowed)
  .all("/api/*", () => {
    throw new StatusError(404, "no such API route");
  })
  .all("*", (request: IRequest, env: Env) => withPageHeaders(env.ASSETS.fetch(request as unknown as Request)));
