/**
 * The registry conformance suite: one set of behaviours every adapter must show, run by
 * each adapter's test file against a real server. Each test works in its own namespace
 * (bucket or key prefix), so tests never see each other's entries.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import { nodeAddress } from "../../runtime/registry/address.js";
import { keepAlive } from "../../runtime/registry/keep-alive.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { Registry, RegistryChange, RegistryOptions } from "../../runtime/registry/registry.js";
import { signRegistryEntry } from "../../runtime/trust/registry-entry.js";
import { codeOf, eventually, makeNode, nextMatching, partsOf, resign } from "./fixtures.js";
import type { StoreWriter } from "./store-writer.js";

/** What an adapter's test file provides: a URL per namespace, and teardown. */
export interface ConformanceTarget {
  /** The registry URL of a fresh namespace, with the given TTL (`2s`). */
  urlFor(namespace: string, ttl: string): string;
  close(): Promise<void>;
  /** The shortest TTL the server keeps (Consul sessions: 10 s); shorter requests are raised to it. */
  ttlFloorMs?: number;
  /** Raw write access to a namespace's store, going around onex (the attacker); puts carry a TTL of `ttlSeconds`. */
  writer(namespace: string, ttlSeconds: number): Promise<StoreWriter>;
}

let counter = 0;
const ZONE = "zone.trusted.org";

/** Runs the conformance suite against the target `start` brings up. */
export function registryConformance(name: string, start: () => Promise<ConformanceTarget>): void {
  describe(`registry conformance: ${name}`, () => {
    let target: ConformanceTarget;
    const open: Registry[] = [];
    const registry = async (options: RegistryOptions & { ttl?: string } = {}) => {
      const namespace = `conf${process.pid}x${++counter}`;
      const url = target.urlFor(namespace, options.ttl ?? "2s");
      const r = await openRegistry(url, { onTampered: () => undefined, logger: { warn() {} }, ...options });
      open.push(r);
      return { registry: r, url, namespace };
    };
    /** Another reader of the same store, with no memory of what `registry` saw (a CLI run, another process). */
    const reader = async (url: string) => {
      const r = await openRegistry(url, { onTampered: () => undefined, logger: { warn() {} } });
      open.push(r);
      return r;
    };
    const writers: StoreWriter[] = [];
    const writer = async (namespace: string, ttlSeconds: number) => {
      const w = await target.writer(namespace, ttlSeconds);
      writers.push(w);
      return w;
    };

    beforeAll(async () => {
      target = await start();
    });
    afterAll(async () => {
      await Promise.all(writers.map((w) => w.close()));
      await Promise.all(open.map((r) => r.close()));
      await target?.close();
    });

    it("registers a signed entry and resolves it, verified, with the node's key", async () => {
      const { registry: r } = await registry();
      const node = makeNode(ZONE);
      const stored = await r.register(node.entry, node.identity);
      expect(stored.address).toBe(node.address);
      const resolved = await r.resolve(node.address);
      expect(resolved.entry).toEqual(node.entry);
      expect(resolved.identity).toEqual(node.identity);
      expect(resolved.parts).toEqual({ zone: ZONE, entityType: "node", id: node.identity.node_id });
      expect(resolved.key.keyId).toBe(node.key.keyId);
      expect((await r.keyFor(node.address)).keyId).toBe(node.key.keyId);
      expect(r.ttlMs).toBe(Math.max(2_000, target.ttlFloorMs ?? 0));
    });

    it("lists by zone, entity type, health and capability", async () => {
      const { registry: r } = await registry();
      const a = makeNode("zone.a.org", { capabilities: ["gpu"] });
      const b = makeNode("zone.a.org", { capabilities: ["cpu"], status: "warning" });
      const c = makeNode("zone.b.org", { capabilities: ["gpu"] });
      for (const n of [a, b, c]) await r.register(n.entry, n.identity);
      const addresses = async (filter: Parameters<Registry["list"]>[0]) => (await r.list(filter)).map((e) => e.address);
      expect(await addresses({})).toEqual([a.address, b.address, c.address].sort());
      expect(await addresses({ zone: "zone.a.org" })).toEqual([a.address, b.address].sort());
      expect(await addresses({ zone: "zone.a.org", entityType: "agent" })).toEqual([]);
      expect(await addresses({ zone: "zone.a.org", health: "passing" })).toEqual([a.address]);
      expect(await addresses({ capability: "gpu" })).toEqual([a.address, c.address].sort());
    });

    it("rejects an entry whose signature, identity, address or zone does not verify", async () => {
      const { registry: r } = await registry({ zones: [ZONE] });
      const node = makeNode(ZONE);
      const other = makeNode(ZONE);
      // Changed after signing.
      expect(await codeOf(() => r.register({ ...node.entry, capabilities: ["root"] }, node.identity))).toBe(ErrorCode.SignatureInvalid);
      // Signed by another node's key.
      const forged = signRegistryEntry({ node_id: node.identity.node_id, address: node.address, zone: ZONE, health: { status: "passing" } }, other.key);
      expect(await codeOf(() => r.register(forged, node.identity))).toBe(ErrorCode.IdentityMismatch);
      // An identity whose id does not derive from its key.
      expect(await codeOf(() => r.register(node.entry, { ...node.identity, public_key: other.identity.public_key }))).toBe(ErrorCode.IdentityMismatch);
      // A node registering itself under another node's address.
      const squatter = signRegistryEntry({ node_id: node.identity.node_id, address: other.address, zone: ZONE, health: { status: "passing" } }, node.key);
      expect(await codeOf(() => r.register(squatter, node.identity))).toBe(ErrorCode.IdentityMismatch);
      // A zone this registry does not serve (zone_match, strict).
      const outsider = makeNode("zone.elsewhere.org");
      expect(await codeOf(() => r.register(outsider.entry, outsider.identity))).toBe(ErrorCode.ZoneMismatch);
      expect(await codeOf(() => r.resolve(outsider.address))).toBe(ErrorCode.NotFound);
      expect(await r.list()).toEqual([]);
    });

    it("refuses to roll an entry back to an older signed one", async () => {
      const { registry: r } = await registry();
      const older = makeNode(ZONE, { registeredAt: "2026-01-01T00:00:00.000Z" });
      const newer = signRegistryEntry({ ...older.entry, capabilities: ["v2"], registered_at: "2026-01-02T00:00:00.000Z" }, older.key);
      await r.register(newer, older.identity);
      expect(await codeOf(() => r.register(older.entry, older.identity))).toBe(ErrorCode.Replay);
      expect((await r.resolve(older.address)).entry.capabilities).toEqual(["v2"]);
    });

    it("reports an entry tampered with inside the store, and never returns it", async () => {
      const tampered: string[] = [];
      const namespace = `conf${process.pid}x${++counter}`;
      const url = target.urlFor(namespace, "10s");
      const r = await openRegistry(url, { onTampered: (address) => tampered.push(address) });
      open.push(r);
      const node = makeNode(ZONE);
      const honest = makeNode(ZONE);
      await r.register(node.entry, node.identity);
      await r.register(honest.entry, honest.identity);
      const changes = r.watch({ zone: ZONE }, { updatesOnly: true });

      // Someone with write access to the store points the node's address elsewhere.
      const w = await writer(namespace, 10);
      const value = JSON.parse((await w.read(partsOf(node)))!) as { entry: { capabilities: string[] } };
      value.entry.capabilities = ["exfiltrate"];
      await w.put(partsOf(node), JSON.stringify(value));

      const error = (await r.resolve(node.address).catch((e: unknown) => e)) as OnexError;
      expect(error.code).toBe(ErrorCode.EntryTampered);
      expect(error.details.cause).toBe(ErrorCode.SignatureInvalid);
      expect(await codeOf(() => r.keyFor(node.address))).toBe(ErrorCode.EntryTampered);
      expect((await r.list()).map((e) => e.address)).toEqual([honest.address]);
      expect(tampered).toContain(node.address);
      const change = await nextMatching(changes, (c) => c.address === node.address);
      expect(change.kind).toBe("tampered");
      await changes.return!();
      // The node itself can repair it by registering again.
      const { signature: _s, key_id: _k, registered_at: _r, ...fields } = node.entry;
      await r.register(signRegistryEntry(fields, node.key), node.identity);
      expect((await r.resolve(node.address)).entry.capabilities).toEqual(["compute"]);
    });

    it("deregisters: the entry is gone and watchers are told", async () => {
      const { registry: r } = await registry();
      const node = makeNode(ZONE);
      const changes = r.watch({ zone: ZONE });
      await r.register(node.entry, node.identity);
      const seen: RegistryChange[] = [];
      expect((await nextMatching(changes, (c) => c.address === node.address, 15_000, seen)).kind).toBe("registered");
      expect(await r.deregister(node.address)).toBe(true);
      const gone = await nextMatching(changes, (c) => c.address === node.address, 15_000, seen);
      expect(gone.kind).toBe("deregistered");
      expect(await codeOf(() => r.resolve(node.address))).toBe(ErrorCode.NotFound);
      expect(await r.deregister(node.address)).toBe(false);
      expect(await codeOf(() => r.heartbeat(node.address))).toBe(ErrorCode.NotFound);
      await changes.return!();
    });

    it("a heartbeating node stays; a silent one expires, and exactly it is reported", async () => {
      const { registry: r } = await registry({ ttl: "2s" });
      const alive = makeNode(ZONE);
      const dead = makeNode(ZONE);
      await r.register(alive.entry, alive.identity);
      await r.register(dead.entry, dead.identity);
      const changes = r.watch({ zone: ZONE });
      const beat = setInterval(() => void r.heartbeat(alive.address).catch(() => undefined), 400);
      try {
        const seen: RegistryChange[] = [];
        // Servers may take up to twice the TTL to act on a lapse (Consul sessions do).
        const expired = await nextMatching(changes, (c) => c.kind === "expired", 3 * r.ttlMs + 10_000, seen);
        expect(expired.address).toBe(dead.address);
        expect(expired.kind === "expired" && expired.last?.entry.node_id).toBe(dead.identity.node_id);
        expect(await codeOf(() => r.resolve(dead.address))).toBe(ErrorCode.NotFound);
        expect(await codeOf(() => r.heartbeat(dead.address))).toBe(ErrorCode.NotFound);
        // The heartbeating node outlived the dead one's TTL and is still there, and was never reported.
        expect((await r.resolve(alive.address)).entry).toEqual(alive.entry);
        expect(seen.filter((c) => c.address === alive.address && c.kind !== "registered")).toEqual([]);
        expect((await r.list()).map((e) => e.address)).toEqual([alive.address]);
      } finally {
        clearInterval(beat);
        await changes.return!();
      }
    }, 90_000);

    it("heartbeats are not changes, and a watcher that starts late sees current entries first", async () => {
      const { registry: r } = await registry({ ttl: "5s" });
      const node = makeNode(ZONE);
      await r.register(node.entry, node.identity);
      const changes = r.watch();
      const first = await nextMatching(changes, () => true);
      expect(first).toMatchObject({ kind: "registered", address: node.address, initial: true });
      await r.heartbeat(node.address);
      await r.heartbeat(node.address);
      const late = makeNode(ZONE);
      await r.register(late.entry, late.identity);
      // The next change after two heartbeats is the new node, not the heartbeats.
      expect(await nextMatching(changes, () => true)).toMatchObject({ kind: "registered", address: late.address, initial: false });
      await changes.return!();
    });

    it("refuses a replayed older entry on resolve, list, watch and register, here and in a reader that never saw the newer one", async () => {
      const { registry: r, url, namespace } = await registry({ ttl: "30s" });
      const node = makeNode(ZONE, { registeredAt: new Date(Date.now() - 60_000).toISOString() });
      await r.register(node.entry, node.identity);
      const w = await writer(namespace, 30);
      // The store writer keeps the entry signed a minute ago, then the node registers a newer one.
      const old = (await w.read(partsOf(node)))!;
      const newer = resign(node, { capabilities: ["v2"] });
      await r.register(newer, node.identity);
      const changes = r.watch({ zone: ZONE }, { updatesOnly: true });
      const fresh = await reader(url);

      await w.put(partsOf(node), old);
      for (const reading of [r, fresh]) {
        const error = (await reading.resolve(node.address).catch((e: unknown) => e)) as OnexError;
        expect(error.code).toBe(ErrorCode.EntryTampered);
        expect(error.details.cause).toBe(ErrorCode.Replay);
        expect(await reading.list()).toEqual([]);
        expect(await codeOf(() => reading.register(node.entry, node.identity))).toBe(ErrorCode.Replay);
      }
      const change = await nextMatching(changes, (c) => c.address === node.address);
      expect(change.kind).toBe("tampered");
      expect(change.kind === "tampered" && change.error.details.cause).toBe(ErrorCode.Replay);
      await changes.return!();

      // The mark outlives the entry: after a deregistration the old entry is still refused.
      await r.register(newer, node.identity);
      expect(await r.deregister(node.address)).toBe(true);
      await w.put(partsOf(node), old);
      const later = await reader(url);
      expect((await later.resolve(node.address).catch((e: unknown) => e)) as OnexError).toMatchObject({ code: ErrorCode.EntryTampered, details: { cause: ErrorCode.Replay } });

      // With no entry stored, whoever holds the older registration cannot register it back through
      // a registry that never saw the newer one: the mark stays the newer one's, so the old entry
      // put in again is still a replay.
      await w.delete(partsOf(node));
      const holder = await reader(url);
      expect(await codeOf(() => holder.register(node.entry, node.identity))).toBe(ErrorCode.Replay);
      await w.put(partsOf(node), old);
      const last = await reader(url);
      expect((await last.resolve(node.address).catch((e: unknown) => e)) as OnexError).toMatchObject({ code: ErrorCode.EntryTampered, details: { cause: ErrorCode.Replay } });
    });

    it("a watch begun after a node left reports nothing of it, and then what comes", async () => {
      const { registry: r } = await registry({ ttl: "30s" });
      const gone = makeNode(ZONE);
      await r.register(gone.entry, gone.identity);
      expect(await r.deregister(gone.address)).toBe(true);
      const changes = r.watch({ zone: ZONE });
      const node = makeNode(ZONE);
      await r.register(node.entry, node.identity);
      const seen: RegistryChange[] = [];
      await nextMatching(changes, (c) => c.address === node.address, 15_000, seen);
      expect(seen.map((c) => [c.kind, c.address])).toEqual([["registered", node.address]]);
      await changes.return!();
    });

    it("a key no address spells (an id too long, a zone that is not DNS labels) is foreign: watch and list pass over it", async () => {
      const { registry: r, namespace } = await registry({ ttl: "30s" });
      const w = await writer(namespace, 30);
      const changes = r.watch();
      await w.put({ zone: ZONE, entityType: "node", id: "x".repeat(300) }, "{}");
      await w.put({ zone: "Not_A.Zone", entityType: "node", id: "node-1" }, "{}");
      const node = makeNode(ZONE);
      await r.register(node.entry, node.identity);
      const seen: RegistryChange[] = [];
      await nextMatching(changes, (c) => c.address === node.address, 15_000, seen);
      expect(seen.map((c) => [c.kind, c.address])).toEqual([["registered", node.address]]);
      expect((await r.list()).map((e) => e.address)).toEqual([node.address]);
      await changes.return!();
    });

    it("a heartbeat verifies what it refreshes: it registers its own entry again over a forged or replayed one, and fails loudly without one", async () => {
      const { registry: r, url, namespace } = await registry({ ttl: "30s" });
      const node = makeNode(ZONE, { registeredAt: new Date(Date.now() - 60_000).toISOString() });
      await r.register(node.entry, node.identity);
      const w = await writer(namespace, 30);
      const old = (await w.read(partsOf(node)))!;
      const forged = JSON.parse(old) as { entry: { capabilities: string[] } };
      forged.entry.capabilities = ["exfiltrate"];
      await w.put(partsOf(node), JSON.stringify(forged));
      const bystander = await reader(url);
      // A heartbeat from a process that did not register the entry cannot repair it, and says so.
      expect(await codeOf(() => bystander.heartbeat(node.address))).toBe(ErrorCode.EntryTampered);
      await r.heartbeat(node.address);
      expect((await bystander.resolve(node.address)).entry).toEqual(node.entry);

      // A replay of an older entry of the node is repaired the same way.
      const newer = resign(node, { capabilities: ["v2"] });
      await r.register(newer, node.identity);
      await w.put(partsOf(node), old);
      await r.heartbeat(node.address);
      expect((await (await reader(url)).resolve(node.address)).entry).toEqual(newer);
    });

    it("an instance whose node registered a newer entry elsewhere gets ONEX_E_REPLAY from heartbeat, and keepAlive ends with it, leaving the newer entry", async () => {
      const { registry: first, url } = await registry({ ttl: "30s" });
      const node = makeNode(ZONE, { registeredAt: new Date(Date.now() - 60_000).toISOString() });
      await first.register(node.entry, node.identity);
      // Another instance of the same node, in another process, registers a newer entry.
      const newer = resign(node, { capabilities: ["v2"] });
      await (await reader(url)).register(newer, node.identity);
      expect(await codeOf(() => first.heartbeat(node.address))).toBe(ErrorCode.Replay);
      const stopped = AbortSignal.timeout(10_000);
      const ended = await keepAlive(first, { entry: node.entry, identity: node.identity }, { intervalMs: 20, signal: stopped, logger: { warn() {} } }).then(
        () => undefined,
        (error: OnexError) => error.code,
      );
      expect(stopped.aborted).toBe(false);
      expect(ended).toBe(ErrorCode.Replay);
      expect((await (await reader(url)).resolve(node.address)).entry).toEqual(newer);
    });

    it("keepAlive refuses an interval or retry delay it cannot keep, before its first heartbeat (NaN beat about 900 times a second)", async () => {
      const { registry: r } = await registry({ ttl: "30s" });
      const node = makeNode(ZONE);
      await r.register(node.entry, node.identity);
      for (const bad of [{ intervalMs: Number.NaN }, { intervalMs: 0 }, { intervalMs: Infinity }, { retryDelayMs: Number.NaN }, { retryDelayMs: -1 }]) {
        const ended = await keepAlive(r, { entry: node.entry, identity: node.identity }, { ...bad, logger: { warn() {} } }).then(
          () => undefined,
          (error: OnexError) => error,
        );
        expect(ended).toMatchObject({ code: ErrorCode.Usage, message: expect.stringContaining(Object.keys(bad)[0]!) });
      }
    });

    it("reports the same change kinds for the same events: register, heartbeat, raw delete, raw garbage, deregister", async () => {
      const { registry: r, namespace } = await registry({ ttl: "30s" });
      const w = await writer(namespace, 30);
      const node = makeNode(ZONE);
      // Not updatesOnly: a registration racing the watch's start may count as current state, and must still be seen.
      const changes = r.watch({ zone: ZONE });
      const seen: RegistryChange[] = [];
      const next = async () => (await nextMatching(changes, (c) => c.address === node.address, 15_000, seen)).kind;
      await r.register(node.entry, node.identity);
      expect(await next()).toBe("registered");
      await r.heartbeat(node.address);
      // Removed inside the store, not deregistered by its node: it stopped being alive.
      await w.delete(partsOf(node));
      expect(await next()).toBe("expired");
      await r.register(node.entry, node.identity);
      expect(await next()).toBe("registered");
      await w.put(partsOf(node), "{}");
      expect(await next()).toBe("tampered");
      await r.register(node.entry, node.identity);
      expect(await next()).toBe("registered");
      await r.deregister(node.address);
      expect(await next()).toBe("deregistered");
      expect(seen.map((c) => c.kind)).toEqual(["registered", "expired", "registered", "tampered", "registered", "deregistered"]);
      await changes.return!();
    });

    it("a view lists as list does, from memory, and follows registrations, changes of health, tampering, departures and lapses", async () => {
      const { registry: r, namespace, url } = await registry({ ttl: "3s" });
      const a = makeNode(ZONE, { capabilities: ["gpu"] });
      const b = makeNode(ZONE);
      const silent = makeNode(ZONE);
      const elsewhere = makeNode("zone.elsewhere.org");
      for (const n of [a, elsewhere]) await r.register(n.entry, n.identity);
      const view = await r.view(ZONE);
      const listed = async (filter: Parameters<Registry["list"]>[0] = {}) => (await view.list(filter)).map((e) => e.address);
      // Heart-beaten by another process, which puts back no entry of its own over a tampered one.
      const other = await reader(url);
      const beat = setInterval(() => void [a, b].map((n) => other.heartbeat(n.address).catch(() => undefined)), 500);
      try {
        expect((await view.list()).map((e) => [e.address, e.entry, e.identity, e.key.keyId])).toEqual((await r.list({ zone: ZONE })).map((e) => [e.address, e.entry, e.identity, e.key.keyId]));
        expect(Object.isFrozen((await view.list())[0]!.entry.capabilities)).toBe(true);
        expect(await codeOf(() => view.list({ zone: "zone.elsewhere.org" }))).toBe(ErrorCode.ZoneMismatch);

        await r.register(b.entry, b.identity);
        await r.register(silent.entry, silent.identity);
        await eventually(async () => (await listed()).length === 3, 15_000, "the new nodes in the view");
        expect(await listed()).toEqual([a.address, b.address, silent.address].sort());
        expect(await listed({ capability: "gpu", entityType: "node" })).toEqual([a.address]);

        // A node that turns critical is no longer listed as passing (a watch filtered by health would never say so).
        const { signature: _s, key_id: _k, registered_at: _r, ...fields } = b.entry;
        await new Promise((resolve) => setTimeout(resolve, 2));
        await r.register(signRegistryEntry({ ...fields, health: { status: "critical" } }, b.key), b.identity);
        await eventually(async () => !(await listed({ health: "passing" })).includes(b.address), 15_000, "the critical node out of the passing ones");
        expect(await listed()).toContain(b.address);

        // Bytes a store writer changed are not listed; a silent node lapses; a deregistered one leaves.
        const w = await writer(namespace, 3);
        const value = JSON.parse((await w.read(partsOf(a)))!) as { entry: { capabilities: string[] } };
        value.entry.capabilities = ["exfiltrate"];
        await w.put(partsOf(a), JSON.stringify(value));
        await eventually(async () => !(await listed()).includes(a.address), 15_000, "the tampered entry out of the view");
        await eventually(async () => !(await listed()).includes(silent.address), 3 * r.ttlMs + 10_000, "the silent node out of the view");
        expect(await r.deregister(b.address)).toBe(true);
        await eventually(async () => (await listed()).length === 0, 15_000, "the deregistered node out of the view");
        expect((await r.list({ zone: ZONE })).map((e) => e.address)).toEqual([]);
      } finally {
        clearInterval(beat);
        await view.close();
      }
      expect(await codeOf(() => view.list())).toBe(ErrorCode.RegistryUnavailable);
    }, 90_000);

    it("a view applies the registry's entry-age limit as it lists, and rejects once its registry is closed", async () => {
      const { registry: r } = await registry({ ttl: "30s", maxEntryAgeMs: 1_500 });
      const node = makeNode(ZONE);
      await r.register(node.entry, node.identity);
      const view = await r.view(ZONE);
      expect((await view.list()).map((e) => e.address)).toEqual([node.address]);
      await new Promise((resolve) => setTimeout(resolve, 1_600));
      expect(await view.list()).toEqual([]);
      expect(await r.list()).toEqual([]);
      await r.close();
      await eventually(async () => view.list().then(() => false, (error: OnexError) => error.code === ErrorCode.RegistryUnavailable), 10_000, "the view to reject");
    });

    it("rejects malformed addresses with ONEX_E_ADDRESS_INVALID", async () => {
      const { registry: r } = await registry();
      for (const bad of ["onex://Zone.Org/node/n1", "http://zone.org/node/n1", "onex://zone.org/robot/n1", "onex://zone.org/node/a.b", "onex://zone.org/node"]) {
        expect(await codeOf(() => r.resolve(bad))).toBe(ErrorCode.AddressInvalid);
      }
      expect(await codeOf(() => r.resolve(nodeAddress(ZONE, "never-registered")))).toBe(ErrorCode.NotFound);
    });
  });
}

/** Waits until `registry` resolves `address`; for fault tests after a restart. */
export async function resolvable(registry: Registry, address: string): Promise<void> {
  await eventually(async () => registry.resolve(address).then(() => true, () => false), 20_000, `${address} resolvable`);
}
