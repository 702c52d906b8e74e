/**
 * A registry watch's outage lines (the watch lost its connection, it is back) go to the owner's
 * logger from where nothing awaits them: NATS KV's loop over the connection's statuses, etcd's
 * watch events. A logger that throws there must not end the process (an unhandled rejection) nor
 * stop the watch: against a real nats-server and etcd, killed and restarted. On a three-node
 * cluster, the lines name the node lost and the node the watch is on again.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { RegistryChange } from "../../runtime/registry/registry.js";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { startNatsCluster } from "../support/nats-cluster.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import type { ServerProcess } from "../support/server-process.js";
import { eventually, makeNode } from "./fixtures.js";

const ZONE = "zone.trusted.org";
let nats: NatsServer;
let etcd: EtcdServer;

beforeAll(async () => {
  [nats, etcd] = await Promise.all([startNatsServer(), startEtcdServer()]);
});
afterAll(async () => {
  await Promise.all([nats?.stop(), etcd?.stop()]);
});

describe("a registry watch whose logger throws on its outage lines", () => {
  const backends: [string, () => { url: string; server: ServerProcess }][] = [
    ["NATS KV", () => ({ url: `${nats.url}?bucket=outage${process.pid}&ttl=30s`, server: nats })],
    ["etcd", () => ({ url: `${etcd.url}?prefix=/outage/&ttl=30s`, server: etcd })],
  ];
  it.each(backends)("on %s, is no unhandled rejection, and the watch reads on after the outage", async (_, backend) => {
    const { url, server } = backend();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    const told: string[] = [];
    const r = await openRegistry(url, {
      logger: {
        warn(message) {
          told.push(message);
          throw new Error("the logger threw");
        },
      },
    });
    const seen: string[] = [];
    let synced!: () => void;
    const ready = new Promise<void>((resolve) => (synced = resolve));
    const watch = r.watch({ zone: ZONE }, { onSynced: () => synced() });
    const reading = (async () => {
      for await (const change of watch as AsyncIterable<RegistryChange>) seen.push(change.address);
    })();
    try {
      await ready;
      await server.kill();
      try {
        await eventually(async () => told.some((line) => line.includes("the watch lost its connection")), 20_000, "the lost-connection line");
      } finally {
        await server.restart();
      }
      await eventually(async () => told.some((line) => line.includes("the watch is connected to")), 30_000, "the connected-again line");
      const node = makeNode(ZONE);
      await eventually(async () => r.register(node.entry, node.identity).then(() => true, () => false), 30_000, "a registration after the restart");
      await eventually(async () => seen.includes(node.address), 30_000, "the registration read by the watch");
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
      await watch.return?.();
      await reading.catch(() => undefined);
      await r.close();
    }
  }, 120_000);
});

describe("a registry watch on a NATS cluster whose node goes down", () => {
  it("names the node it lost, and then the one it is connected to", async () => {
    const cluster = await startNatsCluster(3);
    const [first] = cluster.nodes;
    const told: string[] = [];
    try {
      // Only the first node named: the connection learns the others from the cluster, as a client given one seed does.
      const url = `${first!.url}?bucket=lost${process.pid}&ttl=30s`;
      let r: Awaited<ReturnType<typeof openRegistry>> | undefined;
      await eventually(async () => (r = await openRegistry(url, { logger: { warn: (message) => void told.push(message) } }).catch(() => undefined)) !== undefined, 60_000, "the bucket");
      const watch = r!.watch({ zone: ZONE });
      const reading = (async () => {
        for await (const _ of watch as AsyncIterable<RegistryChange>);
      })().catch(() => undefined);
      const host = (u: string) => u.replace("nats://", "");
      const lines = (what: string) => told.filter((line) => line.includes(what));
      try {
        // Twice: a connection given one seed dials it again first, so only from the second
        // outage on does it dial another node first, and the line named that one as lost.
        await first!.stop();
        await eventually(async () => lines("is connected to").length === 1, 30_000, "the first connected-again line");
        expect(lines("lost its connection")[0]).toContain(`NATS at ${host(first!.url)};`);
        await first!.start();
        const now = cluster.nodes.find((n) => lines("is connected to")[0]!.includes(`NATS at ${host(n.url)} again`));
        expect(now, lines("is connected to")[0]).toBeDefined();
        await now!.stop();
        await eventually(async () => lines("is connected to").length === 2, 30_000, "the second connected-again line");
        expect(lines("lost its connection")[1]).toContain(`NATS at ${host(now!.url)};`);
        expect(lines("is connected to")[1]).not.toContain(`NATS at ${host(now!.url)} again`);
      } finally {
        await watch.return?.();
        await reading;
        await r!.close();
      }
    } finally {
      await cluster.stop();
    }
  }, 120_000);
});
