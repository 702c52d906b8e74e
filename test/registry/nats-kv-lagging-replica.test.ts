/**
 * A NATS KV registry watch whose consumer is placed on a replica that lags: a node of an R3
 * bucket restarted and still catching up. nats-server (2.9) places a watch's one-replica consumer
 * on any of the stream's replicas, and starts it after that replica's last revision when the one
 * asked for is past it: a resumed watch is handed revisions it has read, and a new watch's first
 * state is that replica's older value of each key.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keepAlive } from "../../runtime/registry/keep-alive.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { Registry, RegistryChange } from "../../runtime/registry/registry.js";
import { startClusterWithClient, type ClusterWithClient } from "../support/nats-cluster.js";
import { eventually, makeNode, nextMatching } from "./fixtures.js";

const ZONE = "zone.trusted.org";
let own: ClusterWithClient;
beforeAll(async () => {
  own = await startClusterWithClient();
}, 60_000);
afterAll(() => own?.stop());

async function openBucket(bucket: string, ttl: string, warns: string[]): Promise<Registry> {
  const url = `nats://${own.cluster.urls.map((u) => u.replace("nats://", "")).join(",")}?bucket=${bucket}&ttl=${ttl}&replicas=3`;
  await eventually(() => openRegistry(url).then((r) => r.close().then(() => true), () => false), 60_000, "an R3 bucket");
  return openRegistry(url, { logger: { warn: (m) => warns.push(m) } });
}

/** 20,000 writes of 1 KiB outside the zone watched: a replica down meanwhile takes a while to catch up. */
async function fill(bucket: string): Promise<void> {
  const bytes = new Uint8Array(1024);
  for (let i = 0; i < 20_000; i += 500) {
    // Sent again when the connection was on a node just stopped and moved meanwhile.
    const batch = () => Promise.all(Array.from({ length: 500 }, (_, j) => own.js.publish(`$KV.${bucket}.filler.k${i + j}`, bytes)));
    await batch().catch(batch);
  }
}

/** Every change `watch` reports until it ends, into `into`. */
async function drain(watch: AsyncIterator<RegistryChange>, into: RegistryChange[]): Promise<void> {
  for (;;) {
    const next = await watch.next();
    if (next.done) return;
    into.push(next.value);
  }
}

async function healed(bucket: string): Promise<void> {
  const current = async () => (await own.jsm.streams.info(`KV_${bucket}`).catch(() => undefined))?.cluster?.replicas?.every((r) => r.current) === true;
  await eventually(current, 60_000, "a leader of the bucket, its replicas current");
}

describe("a NATS KV registry watch on a replica that lags", () => {
  it("takes revisions a resumed consumer repeats for no history reset", async () => {
    const bucket = `resumed${process.pid}`;
    const warns: string[] = [];
    const registry = await openBucket(bucket, "5s", warns);
    const stop = new AbortController();
    try {
      const nodes = [makeNode(ZONE), makeNode(ZONE)];
      const beating = nodes.map((n) => keepAlive(registry, n, { signal: stop.signal, logger: { warn: () => undefined } }).catch(() => undefined));
      // Eight watches, eight consumers: each resumed one lands on the lagging replica one time in three.
      const watches = Array.from({ length: 8 }, () => registry.watch({ zone: ZONE }));
      for (const watch of watches) for (const n of nodes) await nextMatching(watch, (c) => c.kind === "registered" && c.address === n.address, 30_000);
      const draining = watches.map((w) => drain(w, []));
      // A node restarted after 20,000 writes catches up on them; another stopped at once moves the
      // watches whose consumers it held, half of them onto the one catching up.
      for (let round = 0; round < 3; round++) {
        const [lagging, next] = [own.cluster.nodes[round]!, own.cluster.nodes[(round + 1) % 3]!];
        await lagging.stop();
        await fill(bucket);
        await lagging.start();
        await next.stop();
        await new Promise((resolve) => setTimeout(resolve, 3_000));
        await next.start();
        await healed(bucket);
      }
      // A few more history checks on the healed cluster. Only repeats are this test's: with a node
      // down while another catches up, nats-server 2.9 was seen to leave the bucket's history
      // changed under the watch (its first message stamped after a later one the watch read, or
      // its last revision below one the watch read), which the watch rightly reads again.
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      expect(warns.filter((w) => /was delivered after revision/.test(w))).toEqual([]);
      stop.abort();
      await Promise.all(watches.map((w) => w.return?.()));
      await Promise.all([...beating, ...draining]);
    } finally {
      stop.abort();
      await registry.close();
    }
  }, 300_000);

  it("reads the writes a new watch's first state missed on it: a node deregistered while the replica was down is reported deregistered", async () => {
    const bucket = `first${process.pid}`;
    const warns: string[] = [];
    // A TTL longer than the test: a node still shown is the missed deregistration, not a lapse to come.
    const registry = await openBucket(bucket, "2m", warns);
    const beat = new AbortController();
    const watches: AsyncIterator<RegistryChange>[] = [];
    try {
      const gone = makeNode(ZONE);
      await registry.register(gone.entry, gone.identity);
      const beating = keepAlive(registry, gone, { signal: beat.signal, intervalMs: 250, logger: { warn: () => undefined } }).catch(() => undefined);
      await healed(bucket);
      // A follower of the bucket: stopping it leaves the leader to take the writes at once. Not the
      // node this test's connection is on, whose writes (fill) would wait on the reconnection.
      const leader = (await own.jsm.streams.info(`KV_${bucket}`)).cluster!.leader;
      const lagging = own.cluster.nodes.find((n) => n.name !== leader && n.name !== own.nc.info?.server_name)!;
      await lagging.stop();
      beat.abort();
      await beating;
      // Deregistered last: a replica catches up in order, so it holds the older value the longest.
      await fill(bucket);
      // The registry's connection may have been to the node stopped: retried while it moves.
      await eventually(() => registry.deregister(gone.address).then(() => true, () => false), 30_000, "the node deregistered");
      await lagging.start();
      // Opened while it catches up: a first state read there (one in three) shows the node, at its older value.
      const reports = Array.from({ length: 12 }, () => [] as RegistryChange[]);
      for (let i = 0; i < 12; i++) watches.push(registry.watch({ zone: ZONE }));
      const draining = watches.map((w, i) => drain(w, reports[i]!));
      // So does a listing read there, unless it reads on.
      const listings = await Promise.all(Array.from({ length: 12 }, () => registry.list({ zone: ZONE })));
      expect(listings.map((l) => l.some((e) => e.address === gone.address))).toEqual(listings.map(() => false));
      await healed(bucket);
      // Every watch that showed the node reports it deregistered, not kept until its TTL.
      const shown = () => reports.filter((r) => r.some((c) => c.kind === "registered" && c.address === gone.address));
      const ended = () => shown().every((r) => r.some((c) => c.kind === "deregistered" && c.address === gone.address));
      await eventually(async () => ended(), 20_000, "each watch that showed the node reporting it deregistered").catch(() => undefined);
      // Some first state was read on the replica catching up (each has two chances in three not to be).
      expect(shown().length).toBeGreaterThan(0);
      expect(shown().map((r) => r.filter((c) => c.address === gone.address).map((c) => c.kind))).toEqual(shown().map(() => ["registered", "deregistered"]));
      expect(warns.filter((w) => /history/.test(w))).toEqual([]);
      await Promise.all(watches.map((w) => w.return?.()));
      await Promise.all(draining);
    } finally {
      beat.abort();
      await Promise.all(watches.map((w) => w.return?.()));
      await registry.close();
    }
  }, 300_000);
});
