/**
 * A registry watch's outage lines (the watch lost its connection, it is back) go to the owner's
 * logger from where nothing awaits them: NATS KV's loop over the connection's statuses, etcd's
 * watch events. A logger that throws there must not end the process (an unhandled rejection) nor
 * stop the watch: against a real nats-server and etcd, killed and restarted.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { RegistryChange } from "../../runtime/registry/registry.js";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
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
