/**
 * A TCP proxy in front of a nats-server, for tests of what a client does when the network
 * misbehaves: it can drop the next frame from the server holding a marker (cutting the
 * connection with it, as a lost delivery is lost), change a text in the next frame holding it
 * (an answer the server might give in a race the test cannot win on purpose), or hold
 * everything the server sends for a while (the client hears nothing and its requests get no
 * answer, as when the node holding its consumer is gone) and then pass it on; or hold what a
 * client sends from a request on (its request waits, as at a slow server), until let go.
 */
import { createServer, connect as tcpConnect, type Server, type Socket } from "node:net";
import { freePort } from "./nats-server.js";

export interface NatsProxy {
  /** `nats://127.0.0.1:<port>` of the proxy. */
  url: string;
  /** Drops the next frame from the server that holds `marker`, and cuts the connection it came on. */
  dropNextWith(marker: string): void;
  /**
   * Replaces `from` with `to` in the next frame from the server holding `from` (the same length,
   * so the frame's byte count holds); `done` tells whether it has. Matched within one read from
   * the socket: a test asserts `done()`, so a text split between two reads fails it, not passes it.
   */
  rewriteNext(from: string, to: string): { done(): boolean };
  /** Holds what the server sends from now on, until `release`. */
  hold(): void;
  /** Passes on what was held, and what comes after. */
  release(): void;
  /**
   * Holds what clients send from their next frame holding `marker` on (that frame too), until
   * `releaseRequests`; `holding()` tells whether such a frame came (matched within one read).
   */
  holdRequestsFrom(marker: string): { holding(): boolean };
  /** Passes on what clients sent that was held, and what they send after. */
  releaseRequests(): void;
  close(): void;
}

export async function startNatsProxy(serverPort: number): Promise<NatsProxy> {
  let marker: string | undefined;
  let rewrite: { from: string; to: string; done: boolean } | undefined;
  let held: (() => void)[] | undefined;
  let requestMarker: { marker: string; held?: (() => void)[] } | undefined;
  const sockets: Socket[] = [];
  const proxy: Server = createServer((client) => {
    const upstream = tcpConnect(serverPort, "127.0.0.1");
    sockets.push(client, upstream);
    client.on("data", (data) => {
      if (requestMarker !== undefined && requestMarker.held === undefined && data.toString("latin1").includes(requestMarker.marker)) requestMarker.held = [];
      if (requestMarker?.held !== undefined) requestMarker.held.push(() => upstream.write(data));
      else upstream.write(data);
    });
    upstream.on("data", (data) => {
      if (marker !== undefined && data.toString("latin1").includes(marker)) {
        marker = undefined;
        client.destroy();
        upstream.destroy();
        return;
      }
      if (rewrite !== undefined && data.toString("latin1").includes(rewrite.from)) {
        data = Buffer.from(data.toString("latin1").replace(rewrite.from, rewrite.to), "latin1");
        rewrite.done = true;
        rewrite = undefined;
      }
      if (held !== undefined) held.push(() => client.write(data));
      else client.write(data);
    });
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      a.on("error", () => b.destroy());
      a.on("close", () => b.destroy());
    }
  });
  const port = await freePort();
  await new Promise<void>((resolve) => proxy.listen(port, "127.0.0.1", resolve));
  return {
    url: `nats://127.0.0.1:${port}`,
    dropNextWith: (m) => (marker = m),
    rewriteNext: (from, to) => {
      if (from.length !== to.length) throw new Error("a rewrite must keep the frame's length");
      const wanted = { from, to, done: false };
      rewrite = wanted;
      return { done: () => wanted.done };
    },
    hold: () => (held ??= []),
    release: () => {
      const writes = held ?? [];
      held = undefined;
      for (const write of writes) write();
    },
    holdRequestsFrom: (marker) => {
      const wanted: { marker: string; held?: (() => void)[] } = { marker };
      requestMarker = wanted;
      return { holding: () => wanted.held !== undefined };
    },
    releaseRequests: () => {
      const writes = requestMarker?.held ?? [];
      requestMarker = undefined;
      for (const write of writes) write();
    },
    close: () => {
      for (const s of sockets) s.destroy();
      proxy.close();
    },
  };
}
