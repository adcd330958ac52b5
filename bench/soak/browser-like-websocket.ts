// The soak's tabs need the WebSocket a browser gives the page. Node 22's (undici) differs
// where the soak goes: a connection that fails (the Worker is down) fires "error" and
// then nothing, never "close"; and close() on such a socket fires "error" again,
// synchronously. src/client/live-socket.ts calls close() from onerror and reconnects
// from onclose, so under Node a tab reconnecting while the Worker is down recurses until
// the stack overflows and the process dies (RangeError: Maximum call stack size exceeded),
// or, with close() made safe, waits forever for a "close" that never comes.
// This class gives the browser's behaviour: close() acts once, and a failed connection's
// "error" is followed by "close".
export function installBrowserLikeWebSocket(): void {
  const Base = globalThis.WebSocket;
  if ((Base as unknown as { browserLike?: boolean }).browserLike) return;
  class BrowserLikeWebSocket extends Base {
    static readonly browserLike = true;
    private closeCalled = false;
    private closeFired = false;

    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      this.addEventListener("close", () => (this.closeFired = true));
      this.addEventListener("error", () => {
        // After the error's own handlers ran: a browser fires close next.
        setTimeout(() => {
          if (this.closeFired) return;
          this.closeFired = true;
          this.dispatchEvent(new Event("close"));
        }, 0);
      });
    }

    override close(code?: number, reason?: string): void {
      if (this.closeCalled) return;
      this.closeCalled = true;
      super.close(code, reason);
    }
  }
  globalThis.WebSocket = BrowserLikeWebSocket;
}
