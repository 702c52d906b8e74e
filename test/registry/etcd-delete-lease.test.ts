/**
 * etcd's delete(key, revision) grants the departure marker's lease before its compare-and-delete.
 * When the compare failed (the entry was written again between its read and the transaction), the
 * marker's lease was left for its 30 s to run out, holding no key, and the entry's own lease was
 * revoked, taking with it a value written since that still held it. A real etcd, whose lease list
 * shows what is left.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openEtcdStore } from "../../runtime/registry/etcd.js";
import { TrustedRegistry } from "../../runtime/registry/trusted-registry.js";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { makeNode, partsOf } from "./fixtures.js";
import { etcdWriter } from "./store-writer.js";

const ZONE = "zone.trusted.org";

async function leases(clientUrl: string): Promise<string[]> {
  const response = await fetch(`${clientUrl}/v3/lease/leases`, { method: "POST", body: "{}" });
  const body = (await response.json()) as { leases?: { ID: string }[] };
  return (body.leases ?? []).map((lease) => String(lease.ID)).sort();
}

describe("etcd: a compare-and-delete that loses its compare", () => {
  let server: EtcdServer;
  beforeAll(async () => {
    server = await startEtcdServer();
  });
  afterAll(async () => server?.stop());

  it("revokes the departure marker's lease it granted, and leaves the entry's lease to the value written since", async () => {
    const prefix = "/deletelease/";
    const store = await openEtcdStore({ hosts: [server.clientUrl], prefix, ttlMs: 30_000 });
    const registry = new TrustedRegistry(store, { onTampered: () => {}, logger: { warn: () => {} } });
    const writer = etcdWriter(server.clientUrl, prefix, 30);
    try {
      const node = makeNode(ZONE);
      const { revision } = await registry.register(node.entry, node.identity);
      const key = writer.keyOf(partsOf(node));
      const stored = (await writer.raw.range(key))!;
      expect(await leases(server.clientUrl)).toEqual([stored.lease]);
      // Between delete's read of the entry and its transaction (at the marker's lease grant), the value
      // is written again on the same lease: the compare must fail and leave it as it is.
      const leaseClient = (store as unknown as { client: { leaseClient: { leaseGrant: (...args: unknown[]) => Promise<unknown> } } }).client.leaseClient;
      const grant = leaseClient.leaseGrant.bind(leaseClient);
      leaseClient.leaseGrant = async (...args: unknown[]) => {
        leaseClient.leaseGrant = grant;
        await writer.raw.put(key, stored.value, stored.lease);
        return grant(...args);
      };
      expect(await store.delete(partsOf(node), revision)).toBe(false);
      expect(await leases(server.clientUrl)).toEqual([stored.lease]);
      expect((await writer.raw.range(key))?.value).toBe(stored.value);
    } finally {
      await registry.close();
    }
  });
});
