/**
 * A TCP proxy to a loopback port whose connections can be cut, and new ones refused, until it is
 * let through again: an etcd (or any server) that goes away under a client and comes back.
 */
import { createServer, connect as tcpConnect, type Server, type Socket } from "node:net";
import { freePort } from "./nats-server.js";

export interface CuttableProxy {
  /** `127.0.0.1:<port>` of the proxy. */
  host: string;
  /** Cuts every connection and refuses new ones. */
  cut(): void;
  /** Takes connections again. */
  let(): void;
  close(): void;
}

export async function cuttableProxy(port: number): Promise<CuttableProxy> {
  const sockets = new Set<Socket>();
  let open = true;
  const server: Server = createServer((client) => {
    if (!open) return void client.destroy();
    const upstream = tcpConnect(port, "127.0.0.1");
    for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
      sockets.add(from);
      from.on("data", (data) => to.write(data));
      from.on("close", () => (sockets.delete(from), to.destroy()));
      from.on("error", () => to.destroy());
    }
  });
  const proxyPort = await freePort();
  await new Promise<void>((resolve) => server.listen(proxyPort, "127.0.0.1", resolve));
  const cutAll = () => sockets.forEach((s) => s.destroy());
  return {
    host: `127.0.0.1:${proxyPort}`,
    cut: () => ((open = false), cutAll()),
    let: () => (open = true),
    close: () => (cutAll(), server.close()),
  };
}
