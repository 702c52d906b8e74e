/**
 * The registry's fast paths, on both CI backends: a registration is verified once per
 * revision (the cache is keyed by slot and revision, and a new revision is verified again
 * even with the same bytes), register stores exactly the bytes it verified, and the
 * compare-and-set written without a read first still loses to, and refuses, what is stored.
 * Verifications are counted by wrapping the real function the registry calls.
 */
import { connect, headers } from "@nats-io/transport-node";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import { natsKvKey } from "../../runtime/registry/nats-kv.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { Registry } from "../../runtime/registry/registry.js";
import { verifyRegistryEntryOfNode } from "../../runtime/trust/registry-entry.js";
import { signRegistryEntry } from "../../runtime/trust/registry-entry.js";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import type { CanonicalAddress } from "../../runtime/registry/address.js";
import { codeOf, makeNode, nextMatching, partsOf, resign } from "./fixtures.js";
import { etcdWriter, natsKvWriter, type StoreWriter } from "./store-writer.js";

vi.mock("../../runtime/trust/registry-entry.js", async (original) => {
  const actual = await original<typeof import("../../runtime/trust/registry-entry.js")>();
  return { ...actual, verifyRegistryEntryOfNode: vi.fn(actual.verifyRegistryEntryOfNode) };
});

const verifications = vi.mocked(verifyRegistryEntryOfNode);
const ZONE = "zone.trusted.org";

let nats: NatsServer;
let etcd: EtcdServer;
let counter = 0;
const open: Registry[] = [];
const writers: StoreWriter[] = [];

beforeAll(async () => {
  [nats, etcd] = await Promise.all([startNatsServer(), startEtcdServer()]);
});
afterAll(async () => {
  await Promise.all(writers.map((w) => w.close()));
  await Promise.all(open.map((r) => r.close()));
  await Promise.all([nats?.stop(), etcd?.stop()]);
});
beforeEach(() => {
  verifications.mockClear();
});

const backends = [
  {
    name: "NATS KV",
    url: (ns: string) => `${nats.url}?bucket=${ns}&ttl=30s`,
    writer: (ns: string) => natsKvWriter(nats.url, ns),
    markWriter: (ns: string) => natsKvWriter(nats.url, `${ns}_marks`),
  },
  {
    name: "etcd",
    url: (ns: string) => `${etcd.url}?prefix=/${ns}/&ttl=30s`,
    writer: async (ns: string) => etcdWriter(etcd.clientUrl, `/${ns}/`, 30),
    // Marks live outside the entries' prefix, without a lease.
    markWriter: async (ns: string) => {
      const w = etcdWriter(etcd.clientUrl, `/${ns}#marks/`, 30);
      return { ...w, put: (key: CanonicalAddress, value: string) => w.raw.put(w.keyOf(key), value) };
    },
  },
];

for (const backend of backends) {
  describe(`registry fast paths: ${backend.name}`, () => {
    const namespace = async () => {
      const ns = `cache${process.pid}x${++counter}`;
      const reader = async () => {
        const r = await openRegistry(backend.url(ns), { onTampered: () => undefined, logger: { warn() {} } });
        open.push(r);
        return r;
      };
      const w = await backend.writer(ns);
      const marks = await backend.markWriter(ns);
      writers.push(w, marks);
      return { reader, writer: w, marks };
    };

    it("verifies a registration once per revision, and again when its revision changes, even to the same bytes", async () => {
      const { reader, writer } = await namespace();
      const r = await reader();
      const node = makeNode(ZONE);
      await r.register(node.entry, node.identity);
      expect(verifications).toHaveBeenCalledTimes(1);
      // What register verified and wrote, entry and mark, is what resolve reads: no second verification.
      expect((await r.resolve(node.address)).entry).toEqual(node.entry);
      expect((await r.resolve(node.address)).entry).toEqual(node.entry);
      expect(verifications).toHaveBeenCalledTimes(1);

      // A store writer writes the very same bytes back: a new revision, so verified again, once.
      const bytes = (await writer.read(partsOf(node)))!;
      await writer.put(partsOf(node), bytes);
      const after = await r.resolve(node.address);
      expect(after.entry).toEqual(node.entry);
      expect(verifications).toHaveBeenCalledTimes(2);
      await r.resolve(node.address);
      expect(verifications).toHaveBeenCalledTimes(2);

      // Different bytes at the next revision are verified, and refused.
      const forged = JSON.parse(bytes) as { entry: { capabilities: string[] } };
      forged.entry.capabilities = ["exfiltrate"];
      await writer.put(partsOf(node), JSON.stringify(forged));
      const error = (await r.resolve(node.address).catch((e: unknown) => e)) as OnexError;
      expect(error).toMatchObject({ code: ErrorCode.EntryTampered, details: { cause: ErrorCode.SignatureInvalid } });
      expect(verifications).toHaveBeenCalledTimes(3);
      // Refused once per revision too: read again and listed, the forgery is refused as it was, unverified.
      expect(await r.resolve(node.address).catch((e: unknown) => e)).toMatchObject({ code: ErrorCode.EntryTampered, details: { cause: ErrorCode.SignatureInvalid } });
      expect(await r.list({ zone: ZONE })).toEqual([]);
      expect(verifications).toHaveBeenCalledTimes(3);
      // The same forged bytes written again are a new revision: verified again, once.
      await writer.put(partsOf(node), JSON.stringify(forged));
      expect(await codeOf(() => r.resolve(node.address))).toBe(ErrorCode.EntryTampered);
      expect(verifications).toHaveBeenCalledTimes(4);
    });

    it("a warm reader checks the mark again once the entry's revision moves: the entry it knew, written back, is refused", async () => {
      const { reader, writer } = await namespace();
      const node = makeNode(ZONE, { registeredAt: new Date(Date.now() - 60_000).toISOString() });
      const owner = await reader();
      await owner.register(node.entry, node.identity);
      // The warm reader found this entry fresh, and never sees the newer one.
      const warm = await reader();
      expect((await warm.resolve(node.address)).entry).toEqual(node.entry);
      const old = (await writer.read(partsOf(node)))!;
      const { signature: _s, key_id: _k, registered_at: _r, ...fields } = node.entry;
      await owner.register(signRegistryEntry({ ...fields, capabilities: ["v2"] }, node.key), node.identity);
      await writer.put(partsOf(node), old);
      const error = (await warm.resolve(node.address).catch((e: unknown) => e)) as OnexError;
      expect(error).toMatchObject({ code: ErrorCode.EntryTampered, details: { cause: ErrorCode.Replay } });
    });

    it("a watcher judges an entry by the mark at its revision: after a newer mark, the entry it knew written back is tampered", async () => {
      const { reader, writer, marks } = await namespace();
      const owner = await reader();
      const watching = await reader();
      const changes = watching.watch({ zone: ZONE }, { updatesOnly: true });
      // A registration seen by the watcher proves the watch is up (one written before it was is current
      // state, which updatesOnly skips, so register more until one is seen); the node then registers with its mark while watched.
      const barriers = new Set<string>();
      let up = false;
      const registering = (async () => {
        while (!up) {
          const barrier = makeNode(ZONE);
          barriers.add(barrier.address);
          await owner.register(barrier.entry, barrier.identity);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      })();
      await nextMatching(changes, (c) => barriers.has(c.address));
      up = true;
      await registering;
      const node = makeNode(ZONE, { registeredAt: new Date(Date.now() - 60_000).toISOString() });
      await owner.register(node.entry, node.identity);
      expect(await nextMatching(changes, (c) => c.address === node.address)).toMatchObject({ kind: "registered" });

      // A newer registration's mark lands (the entry does not), then the known entry comes back in other
      // bytes that still verify: the mark now stored, not the one seen with the entry, judges it.
      const newer = resign(node, { capabilities: ["v2"] });
      await marks.put(partsOf(node), JSON.stringify({ format: 1, entry: newer, identity: node.identity }));
      const known = (await writer.read(partsOf(node)))!;
      await writer.put(partsOf(node), JSON.stringify(JSON.parse(known), null, 1));
      const change = await nextMatching(changes, (c) => c.address === node.address);
      expect(change).toMatchObject({ kind: "tampered", error: { details: { cause: ErrorCode.Replay } } });

      // The node registers something newer still, over that mark: a registration again.
      await owner.register(resign(node, { capabilities: ["v3"] }), node.identity);
      expect(await nextMatching(changes, (c) => c.address === node.address)).toMatchObject({ kind: "registered" });
      await changes.return!();
    });

    it("hands out fresh objects from a cached verification", async () => {
      const { reader } = await namespace();
      const r = await reader();
      const node = makeNode(ZONE);
      const registered = await r.register(node.entry, node.identity);
      registered.entry.capabilities!.push("root");
      registered.parts.id = "someone-else";
      const first = await r.resolve(node.address);
      first.entry.capabilities!.push("root");
      first.identity.zone = "zone.evil.org";
      first.entry.health.status = "critical";
      const second = await r.resolve(node.address);
      expect(second.entry).toEqual(node.entry);
      expect(second.identity).toEqual(node.identity);
      expect(second.parts).toEqual(partsOf(node));
      expect(verifications).toHaveBeenCalledTimes(1);
      // A reader that never saw the address takes the mark's verdict from the entry's (the same
      // bytes): what it hands out from either is its own copy too, however deep the change.
      const fresh = await reader();
      const cold = await fresh.resolve(node.address);
      cold.entry.health.status = "critical";
      cold.entry.capabilities!.length = 0;
      cold.identity.public_key = "";
      const warm = await fresh.resolve(node.address);
      expect(warm.entry).toEqual(node.entry);
      expect(warm.identity).toEqual(node.identity);
      expect(warm.entry).not.toBe(cold.entry);
      expect(warm.entry.health).not.toBe(cold.entry.health);
      expect(verifications).toHaveBeenCalledTimes(2);
    });

    it("a reader that never saw the address verifies entry and mark once when they hold the same bytes", async () => {
      const { reader } = await namespace();
      const node = makeNode(ZONE);
      await (await reader()).register(node.entry, node.identity);
      const fresh = await reader();
      expect((await fresh.resolve(node.address)).entry).toEqual(node.entry);
      expect(verifications).toHaveBeenCalledTimes(2);
    });

    it("stores exactly the bytes it verified: an entry that serialises otherwise than it reads is refused and nothing is stored", async () => {
      const { reader } = await namespace();
      const r = await reader();
      const node = makeNode(ZONE);
      const sneaky = { ...node.entry };
      // Invisible to Object.keys, so a check of the object would pass, but JSON.stringify writes it.
      Object.defineProperty(sneaky, "toJSON", { enumerable: false, value: () => ({ ...node.entry, capabilities: ["root"] }) });
      expect(await codeOf(() => r.register(sneaky, node.identity))).toBe(ErrorCode.SignatureInvalid);
      expect(await codeOf(() => (async () => (await reader()).resolve(node.address))())).toBe(ErrorCode.NotFound);
    });

    it("a registration refused by verification writes nothing: a new address stays empty, a registered one keeps mark and entry", async () => {
      const { reader, writer, marks } = await namespace();
      const r = await reader();
      // A new address: nothing is written.
      const node = makeNode(ZONE);
      const forged = { ...node.entry, capabilities: ["root"] };
      expect(await codeOf(() => r.register(forged, node.identity))).toBe(ErrorCode.SignatureInvalid);
      expect(await writer.read(partsOf(node))).toBeUndefined();
      expect(await marks.read(partsOf(node))).toBeUndefined();
      expect(await codeOf(async () => (await reader()).resolve(node.address))).toBe(ErrorCode.NotFound);
      // The refusal holds nothing back: the node registers, and fresh readers and watchers trust it.
      const watching = (await reader()).watch({ zone: ZONE });
      await r.register(node.entry, node.identity);
      expect((await (await reader()).resolve(node.address)).entry).toEqual(node.entry);
      expect(await nextMatching(watching, (c) => c.address === node.address)).toMatchObject({ kind: "registered" });
      await watching.return!();
      expect(await marks.read(partsOf(node))).toBe(await writer.read(partsOf(node)));

      // A registered address: a newer, forged registration through a registry that never saw it changes neither mark nor entry.
      const markBefore = await marks.read(partsOf(node));
      const entryBefore = await writer.read(partsOf(node));
      const newerForged = { ...resign(node, { capabilities: ["v2"] }), capabilities: ["root"] };
      expect(await codeOf(async () => (await reader()).register(newerForged, node.identity))).toBe(ErrorCode.SignatureInvalid);
      expect(await marks.read(partsOf(node))).toBe(markBefore);
      expect(await writer.read(partsOf(node))).toBe(entryBefore);
      expect((await (await reader()).resolve(node.address)).entry).toEqual(node.entry);
    });

    it("register does not verify again the bytes it registered at the address, and does verify others", async () => {
      const { reader } = await namespace();
      const r = await reader();
      const node = makeNode(ZONE);
      await r.register(node.entry, node.identity);
      expect(verifications).toHaveBeenCalledTimes(1);
      // The same registration again (keepAlive after a lapse, a heartbeat's repair): a new revision, no second verification.
      const again = await r.register(node.entry, node.identity);
      expect(verifications).toHaveBeenCalledTimes(1);
      expect((await (await reader()).resolve(node.address)).revision).toBe(again.revision);
      verifications.mockClear();
      // The same entry with another identity is not these bytes: verified, and refused.
      const other = makeNode(ZONE);
      expect(await codeOf(() => r.register({ ...node.entry }, other.identity))).toBe(ErrorCode.IdentityMismatch);
      expect(verifications).toHaveBeenCalledTimes(1);
      // A newer registration of the node is verified.
      await r.register(resign(node, { capabilities: ["v2"] }), node.identity);
      expect(verifications).toHaveBeenCalledTimes(2);
      // Under an entry-age limit the verdict depends on the clock: verified every time.
      const aged = await openRegistry(backend.url(`aged${process.pid}x${++counter}`), { maxEntryAgeMs: 60_000, onTampered: () => undefined });
      open.push(aged);
      await aged.register(node.entry, node.identity);
      verifications.mockClear();
      await aged.register(node.entry, node.identity);
      expect(verifications.mock.calls.some(([entry]) => JSON.stringify(entry) === JSON.stringify(node.entry))).toBe(true);
    });

    it("register writes without reading first, yet loses to and refuses what is stored: a newer entry, a racing registration", async () => {
      const { reader } = await namespace();
      const older = makeNode(ZONE, { registeredAt: new Date(Date.now() - 60_000).toISOString() });
      const { signature: _s, key_id: _k, registered_at: _r, ...fields } = older.entry;
      const newer = signRegistryEntry(fields, older.key);
      // Another process registered the newer entry; this one never saw the address.
      await (await reader()).register(newer, older.identity);
      expect(await codeOf(async () => (await reader()).register(older.entry, older.identity))).toBe(ErrorCode.Replay);
      // Two registries race on a fresh address: one compare-and-set wins, the other reads and writes again or refuses.
      const raced = makeNode(ZONE, { registeredAt: new Date(Date.now() - 30_000).toISOString() });
      const rf = { ...raced.entry };
      const { signature: _s2, key_id: _k2, registered_at: _r2, ...racedFields } = rf;
      const racedNewer = signRegistryEntry(racedFields, raced.key);
      const [a, b] = [await reader(), await reader()];
      const outcomes = await Promise.allSettled([a.register(raced.entry, raced.identity), b.register(racedNewer, raced.identity)]);
      expect(outcomes[1].status).toBe("fulfilled");
      if (outcomes[0].status === "rejected") expect((outcomes[0].reason as OnexError).code).toBe(ErrorCode.Replay);
      const resolved = await (await reader()).resolve(raced.address);
      expect(resolved.entry).toEqual(racedNewer);
    });
  });
}

describe("registry fast paths: NATS KV marks as they are published", () => {
  it("a flood of announced marks that nothing stores costs a watcher one verification a turn of its event loop, not one a mark", async () => {
    const bucket = `flood${process.pid}x${++counter}`;
    const url = `${nats.url}?bucket=${bucket}&ttl=30s`;
    const [r, watcher] = [await openRegistry(url), await openRegistry(url)];
    open.push(r, watcher);
    const changes = watcher.watch({ zone: ZONE });
    const node = makeNode(ZONE);
    await r.register(node.entry, node.identity);
    await nextMatching(changes, (c) => c.address === node.address);
    const entries = await natsKvWriter(nats.url, bucket);
    writers.push(entries);
    const genuine = (await entries.kv.get(natsKvKey(partsOf(node))))!.string();
    // 2,000 marks that verify, each new bytes (one more space), each a compare-and-set that fails.
    const flooder = await connect({ servers: nats.url });
    const stale = headers();
    stale.set("Nats-Expected-Last-Subject-Sequence", "999999");
    verifications.mockClear();
    for (let i = 1; i <= 2_000; i++) flooder.publish(`$KV.${bucket}_marks.${natsKvKey(partsOf(node))}`, genuine + " ".repeat(i), { headers: stale });
    await flooder.flush();
    await flooder.close();
    // Every mark reached the watcher once a registration made after them is reported.
    const barrier = makeNode(ZONE);
    await r.register(barrier.entry, barrier.identity);
    await nextMatching(changes, (c) => c.address === barrier.address);
    expect(verifications.mock.calls.length).toBeGreaterThan(0);
    expect(verifications.mock.calls.length).toBeLessThan(500);
    await changes.return!();
  });
});
