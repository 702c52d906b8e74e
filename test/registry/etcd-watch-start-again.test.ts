/**
 * An etcd registry watch that reads its first snapshot, hands it to the reader, and then fails
 * to make its etcd watch: etcd cut off in that round trip (the adapter starts again every
 * 250 ms), or its history compacted past the snapshot (etcd cancels the watch, and the adapter
 * starts over). Either way the next snapshot must be compared with what the watch showed: read
 * as a first state again, a node deregistered in between was shown alive for good, and every
 * view on the watch kept it.
 *
 * The round trip is held open by a TCP proxy that, once armed, holds what the client sends after
 * etcd's next answer carrying entries, until the test lets it through or cuts it. Real etcd.
 */
import { createServer, connect as tcpConnect, type Server, type Socket } from "node:net";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { RegistryChange } from "../../runtime/registry/registry.js";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { freePort } from "../support/nats-server.js";
import { makeNode, nextMatching } from "./fixtures.js";

const ZONE = "zone.trusted.org";
let etcd: EtcdServer;
beforeAll(async () => {
  etcd = await startEtcdServer();
});
afterAll(async () => {
  await etcd?.stop();
});

/** A proxy to `port`; armed, it holds the client's bytes from etcd's next answer carrying entries (over 1,000 bytes: not a frame of HTTP/2's own) on, until released; `answered` resolves then. */
async function holdingProxy(port: number): Promise<{ host: string; arm(): Promise<void>; release(): void; cut(): void; close(): void }> {
  const sockets = new Set<Socket>();
  let state: "open" | "armed" | "holding" = "open";
  let held: { to: Socket; data: Buffer }[] = [];
  let answered: () => void = () => {};
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(port, "127.0.0.1");
    sockets.add(client).add(upstream);
    client.on("data", (data) => (state === "holding" ? held.push({ to: upstream, data }) : upstream.write(data)));
    upstream.on("data", (data) => {
      client.write(data);
      if (state === "armed" && data.length > 1_000) {
        state = "holding";
        answered();
      }
    });
    for (const s of [client, upstream]) {
      s.on("close", () => (sockets.delete(s), client.destroy(), upstream.destroy()));
      s.on("error", () => (client.destroy(), upstream.destroy()));
    }
  });
  const proxyPort = await freePort();
  await new Promise<void>((resolve) => server.listen(proxyPort, "127.0.0.1", resolve));
  return {
    host: `127.0.0.1:${proxyPort}`,
    arm: () => {
      state = "armed";
      return new Promise<void>((resolve) => (answered = resolve));
    },
    release: () => {
      state = "open";
      for (const { to, data } of held) to.write(data);
      held = [];
    },
    cut: () => {
      state = "open";
      held = [];
      sockets.forEach((s) => s.destroy());
    },
    close: () => (sockets.forEach((s) => s.destroy()), server.close()),
  };
}

describe("an etcd registry watch compacted past its snapshot before its etcd watch is made", () => {
  it("shows no node deregistered between the snapshot and the watch's start, and every node registered then", async () => {
    const proxy = await holdingProxy(Number(new URL(etcd.clientUrl).port));
    const query = `?prefix=/startcompacted${process.pid}/&ttl=5m`;
    const warns: string[] = [];
    const watching = await openRegistry(`etcd://${proxy.host}${query}`, { logger: { warn: (m) => warns.push(m) } });
    const writer = await openRegistry(etcd.url + query, { logger: { warn() {} } });
    const admin = new Etcd3({ hosts: etcd.clientUrl });
    try {
      const gone = makeNode(ZONE);
      const stays = makeNode(ZONE);
      await writer.register(gone.entry, gone.identity);
      await writer.register(stays.entry, stays.identity);

      // The snapshot's answer comes back; the watch's next requests wait in the proxy.
      const snapshotRead = proxy.arm();
      const watch = watching.watch({ zone: ZONE });
      const seen: RegistryChange[] = [];
      await snapshotRead;
      await writer.deregister(gone.address);
      const joined = makeNode(ZONE);
      await writer.register(joined.entry, joined.identity);
      const { header } = await admin.kv.range({ key: Buffer.from("/") });
      await admin.kv.compact({ revision: header.revision, physical: true });
      proxy.release();

      await nextMatching(watch, (c) => c.kind === "registered" && c.address === joined.address, 60_000, seen);
      // Reported registered from the snapshot (its lease looked up before the deregistration), it must be reported gone.
      const shown = () => seen.filter((c) => c.address === gone.address).at(-1)?.kind === "registered";
      if (shown()) await nextMatching(watch, (c) => (c.kind === "deregistered" || c.kind === "expired") && c.address === gone.address, 30_000, seen);
      expect(shown()).toBe(false);
      expect(seen.filter((c) => c.address === stays.address && c.kind !== "registered")).toEqual([]);
      // The watch was made from a revision compacted away, and started over once.
      expect(warns.filter((w) => /etcd cancelled the watch/.test(w))).toHaveLength(1);
      await watch.return?.();
    } finally {
      admin.close();
      proxy.close();
      await Promise.all([watching.close(), writer.close()]);
    }
  }, 120_000);
});

describe("an etcd registry watch cut off between its snapshot and the creation of its etcd watch", () => {
  it("shows no node deregistered meanwhile once it is back", async () => {
    const proxy = await holdingProxy(Number(new URL(etcd.clientUrl).port));
    const query = `?prefix=/startcut${process.pid}/&ttl=5m`;
    const watching = await openRegistry(`etcd://${proxy.host}${query}`, { logger: { warn() {} } });
    const writer = await openRegistry(etcd.url + query, { logger: { warn() {} } });
    try {
      const gone = makeNode(ZONE);
      const stays = makeNode(ZONE);
      // Registered by the watching registry itself: their leases are its own, known without a
      // lookup, so the snapshot shows them at once, whatever is held.
      await watching.register(gone.entry, gone.identity);
      await watching.register(stays.entry, stays.identity);

      const snapshotRead = proxy.arm();
      const watch = watching.watch({ zone: ZONE });
      const seen: RegistryChange[] = [];
      await snapshotRead;
      await nextMatching(watch, (c) => c.kind === "registered" && c.address === gone.address, 30_000, seen);
      // The snapshot is in; the watch's creation (and the leases' lookups) are held, then cut off.
      proxy.cut();
      await writer.deregister(gone.address);
      const joined = makeNode(ZONE);
      await writer.register(joined.entry, joined.identity);

      await nextMatching(watch, (c) => c.kind === "registered" && c.address === joined.address, 60_000, seen);
      const shown = () => seen.filter((c) => c.address === gone.address).at(-1)?.kind === "registered";
      if (shown()) await nextMatching(watch, (c) => (c.kind === "deregistered" || c.kind === "expired") && c.address === gone.address, 30_000, seen);
      expect(shown()).toBe(false);
      await watch.return?.();
    } finally {
      proxy.close();
      await Promise.all([watching.close(), writer.close()]);
    }
  }, 120_000);
});
