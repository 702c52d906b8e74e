import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../runtime/errors.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { RegistryChange } from "../../runtime/registry/registry.js";
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
    const r = await openRegistry(`${server.url}?prefix=${prefix}&ttl=3s`, { onTampered: () => undefined });
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
});
