/**
 * Registry.distrust called while a register of the key is writing. register checks the retired
 * keys, then waits for its store write; a key retired during that wait was told "registered" after
 * distrust returned, though every reader refuses the entry. Such a register must fail as one made
 * after distrust does (ONEX_E_SIGNER_UNKNOWN, reason `retired`), and take out the entry it wrote:
 * at that revision alone, so a registration written since stays. register calls its store write
 * before its first await, so distrust called right after register() lands in the write every time.
 * Real nats-server and etcd.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { openEtcdStore } from "../../runtime/registry/etcd.js";
import { openNatsKvStore } from "../../runtime/registry/nats-kv.js";
import type { RegistryStore } from "../../runtime/registry/registry.js";
import { TrustedRegistry } from "../../runtime/registry/trusted-registry.js";
import { bothBackends } from "./both-backends.js";
import { codeOf, makeNode, partsOf, resign } from "./fixtures.js";

const ZONE = "zone.trusted.org";
let counter = 0;
const both = bothBackends();
const { opened, keep } = both;

const backends = [
  {
    ...both.backends[0]!,
    store: (ns: string) => openNatsKvStore({ servers: [both.servers().nats.url], bucket: ns, ttlMs: 30_000 }),
    // Runs `meanwhile` once, after delete's read of the entry and before its removal: the store's read of the entry.
    between: (store: RegistryStore, meanwhile: () => Promise<unknown>) => {
      const bucket = (store as unknown as { entries: { get: (key: string) => Promise<unknown> } }).entries;
      const get = bucket.get.bind(bucket);
      bucket.get = async (key: string) => {
        bucket.get = get;
        const read = await get(key);
        await meanwhile();
        return read;
      };
    },
  },
  {
    ...both.backends[1]!,
    store: (ns: string) => openEtcdStore({ hosts: [both.servers().etcd.clientUrl], prefix: `/${ns}/`, ttlMs: 30_000 }),
    // delete reads the entry, grants its departure marker's lease, then removes: `meanwhile` runs at that grant.
    between: (store: RegistryStore, meanwhile: () => Promise<unknown>) => {
      const leases = (store as unknown as { client: { leaseClient: { leaseGrant: (...args: unknown[]) => Promise<unknown> } } }).client.leaseClient;
      const grant = leases.leaseGrant.bind(leases);
      leases.leaseGrant = async (...args: unknown[]) => {
        leases.leaseGrant = grant;
        await meanwhile();
        return grant(...args);
      };
    },
  },
];

async function rejection(promise: Promise<unknown>): Promise<OnexError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OnexError);
  return error as OnexError;
}

describe.each(backends)("$name: distrust while a register of the key is writing", ({ url: urlOf, store: storeOf, between }) => {
  it("the register fails as one made after distrust, and what it wrote is taken out (its mark stays)", async () => {
    const ns = `inflightreg${++counter}`;
    const registry = await opened(urlOf(ns));
    const node = makeNode(ZONE);
    const registering = registry.register(node.entry, node.identity);
    expect(registry.distrust(node.key.keyId)).toBe(true);
    const error = await rejection(registering);
    expect(error.code).toBe(ErrorCode.SignerUnknown);
    expect(error.details).toMatchObject({ reason: "retired", keyId: node.key.keyId, address: node.address, removed: true });

    // A process not told of the key finds nothing there, as after a register refused outright.
    const other = await opened(urlOf(ns));
    expect(await codeOf(() => other.resolve(node.address))).toBe(ErrorCode.NotFound);
    expect((await other.list({ zone: ZONE })).map((e) => e.address)).toEqual([]);
    // The mark of the registration stays: an older entry of the node is still refused as a replay.
    const older = makeNode(ZONE, { key: node.key, registeredAt: new Date(Date.parse(node.entry.registered_at) - 60_000).toISOString() });
    expect(older.address).toBe(node.address);
    expect(await codeOf(() => other.register(older.entry, older.identity))).toBe(ErrorCode.Replay);
    // And a register made after distrust is refused the same way, writing nothing.
    const again = await rejection(registry.register(resign(node, {}), node.identity));
    expect(again.code).toBe(ErrorCode.SignerUnknown);
    expect(again.details.reason).toBe("retired");
  });

  it("taking out what was written spares a registration written since (compare-and-set on the revision)", async () => {
    const ns = `inflightreg${++counter}`;
    const store: RegistryStore = await storeOf(ns);
    const registry = new TrustedRegistry(store, { onTampered: () => {}, logger: { warn: () => {} } });
    keep(registry);
    const node = makeNode(ZONE);
    const first = await registry.register(node.entry, node.identity);
    const newer = resign(node, { capabilities: ["compute", "gpu"] });
    const second = await registry.register(newer, node.identity);
    expect(second.revision).not.toBe(first.revision);
    expect(await store.delete(partsOf(node), first.revision)).toBe(false);
    expect((await registry.resolve(node.address)).entry.signature).toBe(newer.signature);
    expect(await store.delete(partsOf(node), second.revision)).toBe(true);
    expect(await codeOf(() => registry.resolve(node.address))).toBe(ErrorCode.NotFound);
  });

  it("spares a registration written between its read of the entry and its removal (the removal itself compares the revision)", async () => {
    const ns = `inflightreg${++counter}`;
    const store: RegistryStore = await storeOf(ns);
    const registry = new TrustedRegistry(store, { onTampered: () => {}, logger: { warn: () => {} } });
    keep(registry);
    const node = makeNode(ZONE);
    const first = await registry.register(node.entry, node.identity);
    const newer = resign(node, { capabilities: ["compute", "gpu"] });
    // The honest newer registration lands after delete found the first one still there.
    between(store, () => registry.register(newer, node.identity));
    expect(await store.delete(partsOf(node), first.revision)).toBe(false);
    expect((await registry.resolve(node.address)).entry.signature).toBe(newer.signature);
  });
});
