import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../runtime/errors.js";
import { openRegistry, openStore, parseRegistryUrl } from "../../runtime/registry/open-registry.js";
import type { RegistryChange, RegistryStore } from "../../runtime/registry/registry.js";
import { TrustedRegistry } from "../../runtime/registry/trusted-registry.js";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { registryConformance } from "./conformance.js";
import { codeOf, makeNode, nextMatching, partsOf } from "./fixtures.js";
import { registryFaults } from "./faults.js";
import { etcdWriter } from "./store-writer.js";

const ZONE = "zone.trusted.org";

registryConformance("etcd", async () => {
  const server = await startEtcdServer();
  return {
    urlFor: (ns, ttl) => `${server.url}?prefix=/${ns}/&ttl=${ttl}`,
    writer: async (ns, ttlSeconds) => etcdWriter(server.clientUrl, `/${ns}/`, ttlSeconds),
    close: () => server.stop(),
  };
});

describe("etcd registry faults", () => {
  let server: EtcdServer;
  beforeAll(async () => {
    server = await startEtcdServer();
  });
  afterAll(async () => server?.stop());
  registryFaults(() => server, (ns, ttl) => `${server.url}?prefix=/${ns}/&ttl=${ttl}`);
});

describe("etcd liveness rests on a registry-sized lease", () => {
  let server: EtcdServer;
  beforeAll(async () => {
    server = await startEtcdServer();
  });
  afterAll(async () => server?.stop());

  it("a revoked lease is an expiry; the dead node's entry put back without a lease, or on a lease of a day, is not kept alive", async () => {
    const prefix = `/lease${process.pid}a/`;
    const warned: string[] = [];
    const r = await openRegistry(`${server.url}?prefix=${prefix}&ttl=3s`, { onTampered: () => undefined, logger: { warn: (message) => void warned.push(message) } });
    const w = etcdWriter(server.clientUrl, prefix, 3);
    try {
      const node = makeNode(ZONE);
      await r.register(node.entry, node.identity);
      const changes = r.watch({ zone: ZONE });
      const seen: RegistryChange[] = [];
      // The watch holds the node (its first, initial change) before the writer acts.
      expect(await nextMatching(changes, (c) => c.address === node.address, 15_000, seen)).toMatchObject({ kind: "registered", initial: true });
      const stored = (await w.raw.range(w.keyOf(partsOf(node))))!;
      expect(stored.lease).not.toBe("0");
      // The store writer deletes the node's lease: etcd drops the key, and watchers hear an expiry.
      await w.raw.revoke(stored.lease);
      expect((await nextMatching(changes, (c) => c.address === node.address, 15_000, seen)).kind).toBe("expired");
      // Then puts the dead node's entry back, first with no lease, then on a lease that outlives any TTL.
      await w.raw.put(w.keyOf(partsOf(node)), stored.value);
      expect(await codeOf(() => r.resolve(node.address))).toBe(ErrorCode.NotFound);
      expect(await r.list()).toEqual([]);
      await w.raw.put(w.keyOf(partsOf(node)), stored.value, await w.raw.grant(86_400));
      expect(await codeOf(() => r.resolve(node.address))).toBe(ErrorCode.NotFound);
      expect(await codeOf(() => r.heartbeat(node.address))).toBe(ErrorCode.NotFound);
      // Each skipped key is said once per lease, with why.
      expect(warned).toEqual([expect.stringContaining("is not alive by the TTL rule, as it is on no lease"), expect.stringContaining("its lease was granted for 86400 s, longer than this registry's TTL of 3 s")]);
      // Barrier: a node registered now is the next change. The put without a lease never was one; the
      // put on a lease of a day was alive as it arrived (etcd took it on a live lease), and expired as
      // soon as the watch learnt how long its lease runs.
      const sentinel = makeNode(ZONE);
      await r.register(sentinel.entry, sentinel.identity);
      await nextMatching(changes, (c) => c.address === sentinel.address, 15_000, seen);
      expect(seen.map((c) => `${c.kind} ${c.address === node.address ? "node" : "sentinel"}`)).toEqual(["registered node", "expired node", "registered node", "expired node", "registered sentinel"]);
      await changes.return!();
    } finally {
      await w.close();
      await r.close();
    }
  });

  it("a registry opened with a shorter TTL than its nodes register with says why it lists none of them", async () => {
    const prefix = `/lease${process.pid}d/`;
    const nodes = await openRegistry(`${server.url}?prefix=${prefix}&ttl=10s`);
    const warned: string[] = [];
    const shorter = await openRegistry(`${server.url}?prefix=${prefix}&ttl=5s`, { logger: { warn: (message) => void warned.push(message) } });
    try {
      const node = makeNode(ZONE);
      await nodes.register(node.entry, node.identity);
      expect((await nodes.list()).map((e) => e.address)).toEqual([node.address]);
      expect(await shorter.list()).toEqual([]);
      expect(await shorter.list()).toEqual([]);
      expect(warned).toEqual([expect.stringMatching(/is not alive by the TTL rule, as its lease was granted for 10 s, longer than this registry's TTL of 5 s: reads skip it\. A registry opened with a shorter \?ttl= than its nodes register with sees none of them/)]);
    } finally {
      await shorter.close();
      await nodes.close();
    }
  });

  it("a live entry overwritten without its lease is reported expired, so a health watcher can say the node failed", async () => {
    const prefix = `/lease${process.pid}b/`;
    const r = await openRegistry(`${server.url}?prefix=${prefix}&ttl=30s`, { onTampered: () => undefined });
    const w = etcdWriter(server.clientUrl, prefix, 30);
    try {
      const node = makeNode(ZONE);
      await r.register(node.entry, node.identity);
      const changes = r.watch({ zone: ZONE });
      expect(await nextMatching(changes, (c) => c.address === node.address)).toMatchObject({ kind: "registered", initial: true });
      await w.raw.put(w.keyOf(partsOf(node)), (await w.read(partsOf(node)))!);
      const change = await nextMatching(changes, (c) => c.address === node.address);
      expect(change.kind).toBe("expired");
      expect(change.kind === "expired" && change.last?.entry.node_id).toBe(node.identity.node_id);
      await changes.return!();
    } finally {
      await w.close();
      await r.close();
    }
  });

  it("a #departed marker a writer puts beside a live key does not make the node's later lapse a departure", async () => {
    const prefix = `/lease${process.pid}c/`;
    const owner = await openRegistry(`${server.url}?prefix=${prefix}&ttl=2s`);
    const watcher = await openRegistry(`${server.url}?prefix=${prefix}&ttl=2s`);
    const w = etcdWriter(server.clientUrl, prefix, 2);
    try {
      const node = makeNode(ZONE);
      const changes = watcher.watch({ zone: ZONE }, { updatesOnly: true });
      const seen: RegistryChange[] = [];
      // A barrier: the watch is running once it reports a registration made after it started.
      const early = makeNode(ZONE);
      await owner.register(early.entry, early.identity);
      await nextMatching(changes, (c) => c.address === early.address, 15_000, seen);
      await owner.register(node.entry, node.identity);
      await nextMatching(changes, (c) => c.address === node.address, 15_000, seen);
      // The marker a deregistration writes, put alone ahead of time; then the node stops heartbeating.
      await w.raw.put(`${w.keyOf(partsOf(node))}#departed`, "");
      const lapse = await nextMatching(changes, (c) => c.address === node.address, 15_000, seen);
      expect(lapse.kind).toBe("expired");
      await changes.return!();
    } finally {
      await w.close();
      await watcher.close();
      await owner.close();
    }
  });

  it("a lease id granted again for a day keeps the dead node's entry alive no longer than a TTL, even for the process that granted it", async () => {
    const prefix = `/lease${process.pid}d/`;
    const r = await openRegistry(`${server.url}?prefix=${prefix}&ttl=2s`, { onTampered: () => undefined });
    const w = etcdWriter(server.clientUrl, prefix, 2);
    try {
      const node = makeNode(ZONE);
      await r.register(node.entry, node.identity);
      const stored = (await w.raw.range(w.keyOf(partsOf(node))))!;
      // The writer revokes the node's lease, grants its id again for a day and puts the entry back on it.
      await w.raw.revoke(stored.lease);
      expect(await w.raw.grant(86_400, stored.lease)).toBe(stored.lease);
      await w.raw.put(w.keyOf(partsOf(node)), stored.value, stored.lease);
      // The registering process learnt that id's TTL when it granted it; a TTL later it asks again.
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      expect(await codeOf(() => r.resolve(node.address))).toBe(ErrorCode.NotFound);
      expect(await r.list()).toEqual([]);
    } finally {
      await w.close();
      await r.close();
    }
  });

  /** A registry over its own store, whose etcd client's lease lookups fail as `fail` says (a leader election, say). */
  async function registryWithFailingLookups(url: string, fail: () => boolean): Promise<{ registry: TrustedRegistry; lookups: () => number }> {
    const store = (await openStore(parseRegistryUrl(url))) as RegistryStore & { client: { leaseClient: { leaseTimeToLive: (request: unknown) => Promise<unknown> } } };
    const leases = store.client.leaseClient;
    const lookUp = leases.leaseTimeToLive.bind(leases);
    let lookups = 0;
    leases.leaseTimeToLive = async (request) => {
      lookups++;
      if (fail()) throw new Error("etcdserver: leader changed");
      return lookUp(request);
    };
    return { registry: new TrustedRegistry(store, { onTampered: () => undefined }), lookups: () => lookups };
  }

  it("a prefix holding more than one answer may (gRPC's 4 MiB, onex's 64) still lists and watches: a store writer's large entries do not hide the nodes", async () => {
    const prefix = `/lease${process.pid}g/`;
    const r = await openRegistry(`${server.url}?prefix=${prefix}&ttl=30s`, { onTampered: () => undefined });
    const w = etcdWriter(server.clientUrl, prefix, 30);
    try {
      const node = makeNode(ZONE);
      await r.register(node.entry, node.identity);
      // Fifty values of 1.4 MB (etcd takes a request of up to 1.5 MiB): 70 MB under the prefix,
      // more than an answer of onex's may hold, so its reads come in pages.
      const large = "x".repeat(1_400_000);
      for (let i = 0; i < 50; i += 10) await Promise.all(Array.from({ length: 10 }, () => w.put(partsOf(makeNode(ZONE)), large)));
      expect((await r.list({ zone: ZONE })).map((e) => e.address)).toEqual([node.address]);
      const changes = r.watch({ zone: ZONE });
      expect(await nextMatching(changes, (c) => c.address === node.address, 15_000)).toMatchObject({ kind: "registered", initial: true });
      await changes.return!();
    } finally {
      await r.close();
    }
  });

  it("a lease lookup that fails while a watch takes its snapshot is asked again: the node is not left out", async () => {
    const prefix = `/lease${process.pid}e/`;
    const owner = await openRegistry(`${server.url}?prefix=${prefix}&ttl=30s`);
    let failures = 1;
    const { registry } = await registryWithFailingLookups(`${server.url}?prefix=${prefix}&ttl=30s`, () => failures-- > 0);
    try {
      const node = makeNode(ZONE);
      await owner.register(node.entry, node.identity);
      const changes = registry.watch({ zone: ZONE });
      expect(await nextMatching(changes, (c) => c.address === node.address, 15_000)).toMatchObject({ kind: "registered", initial: true });
      await changes.return!();
    } finally {
      await registry.close();
      await owner.close();
    }
  });

  it("a watch whose lease lookups keep failing stops asking when it stops", async () => {
    const prefix = `/lease${process.pid}f/`;
    const owner = await openRegistry(`${server.url}?prefix=${prefix}&ttl=30s`);
    const { registry, lookups } = await registryWithFailingLookups(`${server.url}?prefix=${prefix}&ttl=30s`, () => true);
    try {
      const changes = registry.watch({ zone: ZONE }, { updatesOnly: true });
      const barrier = makeNode(ZONE);
      await owner.register(barrier.entry, barrier.identity);
      // Reported as it arrives; its lease lookup fails and is tried again, 250 ms, 500 ms, 1 s, 2 s apart.
      await nextMatching(changes, (c) => c.address === barrier.address, 15_000);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(lookups()).toBeGreaterThan(1);
      await changes.return!();
      await registry.close();
      const asked = lookups();
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      expect(lookups()).toBe(asked);
    } finally {
      await registry.close();
      await owner.close();
    }
  });
});
