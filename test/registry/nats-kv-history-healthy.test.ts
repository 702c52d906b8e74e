/**
 * A NATS KV registry watch on a healthy three-node cluster with an R3 bucket: leader changes, a
 * rolling restart and a deregistration (a purge) leave the bucket's history whole, and the watch's
 * history checks (nats-kv-history.ts) must not take any of them for a reset.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { keepAlive } from "../../runtime/registry/keep-alive.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { RegistryChange } from "../../runtime/registry/registry.js";
import { startNatsCluster, type NatsCluster } from "../support/nats-cluster.js";
import { eventually, makeNode, nextMatching } from "./fixtures.js";

const ZONE = "zone.trusted.org";
let cluster: NatsCluster | undefined;
afterAll(async () => {
  await cluster?.stop();
});

describe("a NATS KV registry watch on a healthy R3 cluster", () => {
  it("finds no history reset through leader changes, a rolling restart and a purge", async () => {
    cluster = await startNatsCluster(3);
    const bucket = `healthy${process.pid}`;
    // Heartbeats every 0.5 s: the history is asked every 2 s. A node may lapse while the cluster
    // restarts on a loaded host (its heartbeats refused for longer than the TTL): that is an
    // expiry, not a reset, and not what this test is about.
    const url = `nats://${cluster.urls.map((u) => u.replace("nats://", "")).join(",")}?bucket=${bucket}&ttl=5s&replicas=3`;
    await eventually(() => openRegistry(url).then((r) => r.close().then(() => true), () => false), 60_000, "an R3 bucket");
    const warns: string[] = [];
    const registry = await openRegistry(url, { logger: { warn: (m) => warns.push(m) } });
    const nc = await natsConnect({ servers: cluster.urls });
    const stop = new AbortController();
    try {
      const jsm = await jetstreamManager(nc, { timeout: 30_000 });
      const stream = `KV_${bucket}`;
      const nodes = [makeNode(ZONE), makeNode(ZONE)];
      const beating = nodes.map((n) => keepAlive(registry, n, { signal: stop.signal, logger: { warn: () => undefined } }).catch(() => undefined));
      const watch = registry.watch({ zone: ZONE });
      const seen: RegistryChange[] = [];
      for (const n of nodes) await nextMatching(watch, (c) => c.kind === "registered" && c.address === n.address, 30_000, seen);
      const draining = (async () => {
        for (;;) {
          const next = await watch.next();
          if (next.done) return;
          seen.push(next.value);
        }
      })();

      const gone = makeNode(ZONE);
      await registry.register(gone.entry, gone.identity);
      await registry.deregister(gone.address);
      const healed = async () => (await jsm.streams.info(stream).catch(() => undefined))?.cluster?.replicas?.every((r) => r.current) === true;
      for (let i = 0; i < 2; i++) {
        await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, undefined, { timeout: 10_000 }).catch(() => undefined);
        await eventually(healed, 60_000, "a leader of the bucket, its replicas current");
      }
      for (const node of cluster.nodes) {
        await node.stop();
        await node.start();
        await eventually(healed, 60_000, "a leader of the bucket, its replicas current");
      }
      // A few more checks on the healed cluster.
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      expect(warns.filter((w) => /history/.test(w))).toEqual([]);
      stop.abort();
      await watch.return?.();
      await Promise.all([...beating, draining]);
    } finally {
      stop.abort();
      await Promise.all([registry.close(), nc.close()]);
    }
  }, 300_000);
});
