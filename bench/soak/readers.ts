// The soak's readers, whose observations the history checker reads: in every room a
// polling reader (GET /api/comments?limit=200 every few seconds, whatever the room's mode)
// and a socket reader (the room's WebSocket, opened while the poller last saw do mode:
// every `message` and `update` frame). At the end each takes one final list.
import type { HistoryRecorder } from "../check/recorder";
import { ChatClient } from "../lib/api";
import { RoomSocket } from "../lib/live";
import { jitter, sleep } from "../lib/time";
import { CACHE_SIZE } from "../../src/shared/message";

export type ReaderSettings = { url: string; rooms: string[]; recorder: HistoryRecorder; pollMs: number };

type RoomReaders = { room: string; client: ChatClient; poller: string; listener: string; socket: RoomSocket };

export class SoakReaders {
  /** lists that got no answer (the Worker was down) */
  errors = 0;
  private readonly readers: RoomReaders[];
  private readonly stopper = new AbortController();
  private loops: Promise<void>[] = [];

  constructor(private readonly settings: ReaderSettings) {
    const { url, rooms, recorder } = settings;
    this.readers = rooms.map((room, i) => {
      // Addresses of their own: the writers' per-address limits are not the readers' concern.
      const client = new ChatClient(url, {}, undefined, { headers: { "cf-connecting-ip": `10.78.0.${i + 1}` } });
      const listener = `socket-${room}`;
      const socket = new RoomSocket(client.socketUrl(room), (frame, at) => {
        if (frame.type === "message" || frame.type === "update") {
          recorder.observe(listener, room, [frame.message], { mode: "do", kind: "push", at });
        } else if (frame.type === "mode" && frame.mode === "kv") socket.stop();
      });
      return { room, client, poller: `poll-${room}`, listener, socket };
    });
  }

  get count(): number {
    return this.readers.length * 2;
  }

  start(): void {
    this.loops = this.readers.map((reader) => this.pollLoop(reader));
  }

  /** Stops polling and listening, then every reader reads its room's list once more. */
  async finish(): Promise<void> {
    this.stop();
    await Promise.all(this.loops);
    for (const reader of this.readers) {
      await this.read(reader, reader.poller);
      await this.read(reader, reader.listener);
    }
  }

  stop(): void {
    this.stopper.abort();
    for (const reader of this.readers) reader.socket.stop();
  }

  private async pollLoop(reader: RoomReaders): Promise<void> {
    const { signal } = this.stopper;
    await sleep(jitter(0, this.settings.pollMs), signal);
    while (!signal.aborted) {
      const mode = await this.read(reader, reader.poller);
      // The socket follows the room's mode as this poller last saw it.
      if (mode === "do" && !signal.aborted) reader.socket.start();
      else if (mode === "kv") reader.socket.stop();
      await sleep(jitter(this.settings.pollMs, this.settings.pollMs * 1.4), signal);
    }
  }

  private async read(reader: RoomReaders, as: string): Promise<"kv" | "do" | null> {
    try {
      const listing = await reader.client.list(reader.room, CACHE_SIZE);
      const meta = { mode: listing.mode, kind: "list", at: listing.receivedAt, sentAt: listing.requestedAt } as const;
      const lastPos = listing.lastPos === undefined ? {} : { lastPos: listing.lastPos };
      this.settings.recorder.observe(as, reader.room, listing.comments, { ...meta, ...lastPos });
      return listing.mode;
    } catch {
      this.errors++;
      return null;
    }
  }
}
