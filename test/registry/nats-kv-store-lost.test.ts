/**
 * A NATS KV registry watch whose R1 bucket's node loses its store (a disk replaced during a
 * rolling upgrade): the cluster makes the bucket's stream again, empty, and numbers new writes
 * from 1. A watch resumed after the last revision it saw would wait for sequences the new stream
 * has not reached, and miss every registration and deregistration below them without a word.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { RegistryChange } from "../../runtime/registry/registry.js";
import { startNatsCluster, type NatsCluster } from "../support/nats-cluster.js";
import { eventually, makeNode, nextMatching } from "./fixtures.js";

const ZONE = "zone.trusted.org";
let cluster: NatsCluster | undefined;
afterAll(async () => {
  await cluster?.stop();
});

describe("a NATS KV registry watch through its R1 bucket's store lost", () => {
  it("starts again from the new store: the entry lost is reported, and changes at revisions it had seen before are not missed", async () => {
    cluster = await startNatsCluster(3);
    const bucket = `lost${process.pid}`;
    // A TTL far longer than the test: an entry reported gone is the reset's report, not a lapse.
    const url = `nats://${cluster.urls.map((u) => u.replace("nats://", "")).join(",")}?bucket=${bucket}&ttl=5m`;
    const warns: string[] = [];
    const registry = await openRegistry(url, { logger: { warn: (m) => warns.push(m) } });
    const nc = await natsConnect({ servers: cluster.urls });
    try {
      const old = makeNode(ZONE);
      await registry.register(old.entry, old.identity);
      // Revisions the new stream will number again.
      for (let i = 0; i < 10; i++) await registry.heartbeat(old.address);

      const watch = registry.watch({ zone: ZONE });
      const seen: RegistryChange[] = [];
      await nextMatching(watch, (c) => c.kind === "registered" && c.address === old.address, 30_000, seen);

      const jsm = await jetstreamManager(nc, { timeout: 30_000 });
      const holder = (await jsm.streams.info(`KV_${bucket}`)).cluster!.leader;
      const node = cluster.nodes.find((n) => n.name === holder)!;
      await node.kill();
      await node.wipe();
      await node.start();

      // Registered and deregistered on the new stream, at revisions the watch saw before.
      const fresh = makeNode(ZONE);
      await eventually(async () => registry.register(fresh.entry, fresh.identity).then(() => true, () => false), 90_000, "a registration on the new stream");
      const revision = Number((await registry.resolve(fresh.address)).revision);
      expect(revision).toBeLessThan(10);
      await nextMatching(watch, (c) => c.kind === "registered" && c.address === fresh.address, 60_000, seen);
      await registry.deregister(fresh.address);
      await nextMatching(watch, (c) => c.kind === "deregistered" && c.address === fresh.address, 30_000, seen);
      // The entry the store lost is gone, and said so, not kept alive until its TTL.
      expect(seen.some((c) => c.kind === "expired" && c.address === old.address)).toBe(true);
      expect(warns.some((w) => /history/.test(w))).toBe(true);
      await watch.return?.();
    } finally {
      await Promise.all([registry.close(), nc.close()]);
    }
  }, 240_000);
});
