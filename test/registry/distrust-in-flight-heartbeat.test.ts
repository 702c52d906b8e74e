/**
 * Registry.distrust called while a heartbeat of the key is renewing its entry. heartbeat verifies
 * the stored entry, then waits for the store's renewal; a key retired during that wait was told
 * "renewed" after distrust returned (keepAlive went on for one more interval), and the entry lived
 * a full TTL more. Such a heartbeat must fail as one made after distrust does, and take out the
 * entry it renewed, sparing a registration written since. The store's heartbeat is wrapped so that
 * distrust runs once the renewal is sent: the race is forced every time. Real nats-server and etcd.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { openEtcdStore } from "../../runtime/registry/etcd.js";
import { openNatsKvStore } from "../../runtime/registry/nats-kv.js";
import type { RegistryStore } from "../../runtime/registry/registry.js";
import { TrustedRegistry } from "../../runtime/registry/trusted-registry.js";
import { bothBackends } from "./both-backends.js";
import { codeOf, makeNode, resign } from "./fixtures.js";

const ZONE = "zone.trusted.org";
let counter = 0;
const both = bothBackends();
const { opened, keep } = both;

const backends = [
  { ...both.backends[0]!, store: (ns: string) => openNatsKvStore({ servers: [both.servers().nats.url], bucket: ns, ttlMs: 30_000 }) },
  { ...both.backends[1]!, store: (ns: string) => openEtcdStore({ hosts: [both.servers().etcd.clientUrl], prefix: `/${ns}/`, ttlMs: 30_000 }) },
];

/** Runs `meanwhile` once, right after the store's next heartbeat is sent, and `after` once it is answered. */
function duringNextHeartbeat(store: RegistryStore, meanwhile: () => void, after: () => Promise<unknown> = async () => {}): void {
  const heartbeat = store.heartbeat.bind(store);
  store.heartbeat = async (...args) => {
    store.heartbeat = heartbeat;
    const renewing = heartbeat(...args);
    meanwhile();
    const renewed = await renewing;
    await after();
    return renewed;
  };
}

async function rejection(promise: Promise<unknown>): Promise<OnexError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OnexError);
  return error as OnexError;
}

describe.each(backends)("$name: distrust while a heartbeat of the key is renewing", ({ url: urlOf, store: storeOf }) => {
  /** What the registries made here logged. */
  const warnings: string[] = [];
  async function registryOn(ns: string): Promise<{ store: RegistryStore; registry: TrustedRegistry }> {
    const store = await storeOf(ns);
    return { store, registry: keep(new TrustedRegistry(store, { onTampered: () => {}, logger: { warn: (message) => void warnings.push(message) } })) };
  }

  it("the heartbeat fails as one made after distrust, and the entry it renewed is taken out", async () => {
    const ns = `inflightbeat${++counter}`;
    const { store, registry } = await registryOn(ns);
    const node = makeNode(ZONE);
    await registry.register(node.entry, node.identity);
    duringNextHeartbeat(store, () => expect(registry.distrust(node.key.keyId)).toBe(true));
    const error = await rejection(registry.heartbeat(node.address));
    expect(error.code).toBe(ErrorCode.SignerUnknown);
    expect(error.details).toMatchObject({ reason: "retired", keyId: node.key.keyId, address: node.address, removed: true });
    // A process not told of the key finds nothing there.
    const other = await opened(urlOf(ns));
    expect(await codeOf(() => other.resolve(node.address))).toBe(ErrorCode.NotFound);
    // A heartbeat made after distrust fails the same way, without taking the entry for another's.
    await other.register(node.entry, node.identity);
    const after = await rejection(registry.heartbeat(node.address));
    expect(after.code).toBe(ErrorCode.SignerUnknown);
    expect(after.details.reason).toBe("retired");
    expect(warnings).toEqual([]);
  });

  it("a heartbeat of another registry's entry fails as a read does (ONEX_E_ENTRY_TAMPERED), and the entry is taken out", async () => {
    const ns = `inflightbeat${++counter}`;
    const { store, registry: bystander } = await registryOn(ns);
    const owner = await opened(urlOf(ns));
    const node = makeNode(ZONE);
    await owner.register(node.entry, node.identity);
    duringNextHeartbeat(store, () => bystander.distrust(node.key.keyId));
    const error = await rejection(bystander.heartbeat(node.address));
    expect(error.code).toBe(ErrorCode.EntryTampered);
    expect(error.details.cause).toBe(ErrorCode.SignerUnknown);
    expect(await codeOf(() => owner.resolve(node.address))).toBe(ErrorCode.NotFound);
  });

  it("spares a registration written after the renewal (only the bytes renewed are taken out)", async () => {
    const ns = `inflightbeat${++counter}`;
    const { store, registry } = await registryOn(ns);
    const other = await opened(urlOf(ns));
    const node = makeNode(ZONE);
    await registry.register(node.entry, node.identity);
    const newer = resign(node, { capabilities: ["compute", "gpu"] });
    // Another process, not told of the key, registers the node anew once the renewal is answered.
    duringNextHeartbeat(
      store,
      () => registry.distrust(node.key.keyId),
      () => other.register(newer, node.identity),
    );
    const error = await rejection(registry.heartbeat(node.address));
    expect(error.code).toBe(ErrorCode.SignerUnknown);
    expect(error.details).toMatchObject({ reason: "retired", removed: false });
    expect((await other.resolve(node.address)).entry.signature).toBe(newer.signature);
  });
});
