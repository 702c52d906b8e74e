/**
 * A node's private key is stolen. The operator follows security.md's rotation: a new key, a new
 * identity and registration, the old address deregistered, and the old key retired in every
 * registry reader (`openRegistry(url, { retiredKeys })`). The thief, holding the old key, then
 * registers the old node again with a fresh entry, as a registration is self-certifying: with
 * no retired keys every reader took it (the router listed it, `keyFor` handed out the stolen
 * key, a health watcher announced it). Run on both CI backends with real servers.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { Registry, RegistryChange } from "../../runtime/registry/registry.js";
import { signRegistryEntry } from "../../runtime/trust/registry-entry.js";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { codeOf, makeNode, nextMatching } from "./fixtures.js";

const ZONE = "zone.trusted.org";
let nats: NatsServer;
let etcd: EtcdServer;
let counter = 0;
const open: Registry[] = [];

beforeAll(async () => {
  [nats, etcd] = await Promise.all([startNatsServer(), startEtcdServer()]);
});
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()));
  await Promise.all([nats?.stop(), etcd?.stop()]);
});

const backends = [
  { name: "NATS KV", url: (ns: string) => `${nats.url}?bucket=${ns}&ttl=30s` },
  { name: "etcd", url: (ns: string) => `${etcd.url}?prefix=/${ns}/&ttl=30s` },
];

async function opened(url: string, retiredKeys?: string[]): Promise<Registry> {
  const registry = await openRegistry(url, { ...(retiredKeys ? { retiredKeys } : {}), onTampered: () => {}, logger: { warn: () => {} } });
  open.push(registry);
  return registry;
}

describe.each(backends)("$name: a stolen node key, retired", ({ url: urlOf }) => {
  it("the thief's fresh registration of the old node is refused by every reader told of the retired key, and by its register", async () => {
    const url = urlOf(`stolen${++counter}`);
    const old = makeNode(ZONE, { registeredAt: new Date(Date.now() - 60_000).toISOString() });
    const operator = await opened(url);
    await operator.register(old.entry, old.identity);

    // Rotation: a new key and identity, registered; the old address deregistered.
    const rotated = makeNode(ZONE);
    await operator.register(rotated.entry, rotated.identity);
    await operator.deregister(old.address);

    // The thief registers the old node again, newer than its mark, through a registry of its own.
    const { signature: _s, key_id: _k, registered_at: _r, ...fields } = old.entry;
    const stolen = signRegistryEntry({ ...fields, capabilities: ["compute", "exfiltrate"] }, old.key);
    const thief = await opened(url);
    await thief.register(stolen, old.identity);

    const reader = await opened(url, [old.key.keyId]);
    const watch = reader.watch({ zone: ZONE });
    const changes: RegistryChange[] = [];
    const refused = await nextMatching(watch, (c) => c.kind === "tampered" && c.address === old.address, 15_000, changes);
    expect(refused.kind === "tampered" && refused.error.details.cause).toBe(ErrorCode.SignerUnknown);
    expect(changes.some((c) => c.kind === "registered" && c.address === old.address)).toBe(false);
    await watch.return?.();

    // Twice: the second read finds the bytes' verdict remembered, and is refused all the same.
    for (let i = 0; i < 2; i++) {
      const error = await reader.resolve(old.address).then(
        () => undefined,
        (e: unknown) => e as OnexError,
      );
      expect(error?.code).toBe(ErrorCode.EntryTampered);
      expect(error?.details.cause).toBe(ErrorCode.SignerUnknown);
    }
    expect(await codeOf(() => reader.keyFor(old.address))).toBe(ErrorCode.EntryTampered);
    expect((await reader.list({ zone: ZONE })).map((e) => e.address)).toEqual([rotated.address]);
    expect((await reader.resolve(rotated.address)).key.keyId).toBe(rotated.key.keyId);

    // A registry told of the retired key takes no registration with it, however fresh.
    expect(await codeOf(() => reader.register(signRegistryEntry(fields, old.key), old.identity))).toBe(ErrorCode.SignerUnknown);
  });

  it("refuses retiredKeys that name no key ids", async () => {
    expect(await codeOf(() => openRegistry(urlOf("unused"), { retiredKeys: "key-0123" as unknown as string[] }))).toBe(ErrorCode.Usage);
    // An iterator is read once: openRegistry's own check read it up, and the registry retired nothing.
    const once = new Set([makeNode(ZONE).key.keyId]).values();
    expect(await codeOf(() => opened(urlOf("unused"), once as unknown as string[]))).toBe(ErrorCode.Usage);
    expect(await codeOf(() => openRegistry(urlOf("unused"), { retiredKeys: [makeNode(ZONE).key.keyId.toUpperCase()] }))).toBe(ErrorCode.Usage);
  });
});
