/**
 * Fault tests shared by the adapters that CI runs against a real server: a server restart
 * while nodes heartbeat, and a lease that lapses for one node among many.
 */
import { expect, it } from "vitest";
import { ErrorCode } from "../../runtime/errors.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { RegistryChange } from "../../runtime/registry/registry.js";
import { resolvable } from "./conformance.js";
import { codeOf, makeNode, nextMatching } from "./fixtures.js";

/** A server a fault test can restart. */
export interface RestartableServer {
  kill(): Promise<void>;
  restart(): Promise<void>;
}

/** Registers the fault tests; `url(namespace, ttl)` names a fresh namespace on `server`. */
export function registryFaults(server: () => RestartableServer, url: (namespace: string, ttl: string) => string): void {
  it("a server restart while nodes heartbeat loses nothing acknowledged, and watchers resume", async () => {
    const r = await openRegistry(url(`faults${process.pid}a`, "8s"));
    const nodes = Array.from({ length: 5 }, () => makeNode("zone.trusted.org"));
    try {
      for (const n of nodes) await r.register(n.entry, n.identity);
      const changes = r.watch({ zone: "zone.trusted.org" }, { updatesOnly: true });
      const seen: RegistryChange[] = [];
      // Heartbeats keep going through the outage; the ones that fail while the server is down are retried next round.
      const beat = setInterval(() => {
        for (const n of nodes) void r.heartbeat(n.address).catch(() => undefined);
      }, 500);
      try {
        await server().kill();
        await server().restart();
        for (const n of nodes) await resolvable(r, n.address);
        // Nothing acknowledged was lost: every node resolves with exactly the entry it registered.
        for (const n of nodes) expect((await r.resolve(n.address)).entry).toEqual(n.entry);
        // The watcher from before the restart sees a registration made after it.
        const late = makeNode("zone.trusted.org");
        await r.register(late.entry, late.identity);
        const change = await nextMatching(changes, (c) => c.address === late.address, 20_000, seen);
        if (process.env.DEBUG_FAULTS) console.log(seen.map((c) => `${c.kind} ${c.address.slice(-6)} ${"entry" in c ? c.entry.revision : ""}`));
        expect(change.kind).toBe("registered");
        expect(seen.filter((c) => c.kind === "expired" || c.kind === "deregistered")).toEqual([]);
      } finally {
        clearInterval(beat);
        await changes.return!();
      }
    } finally {
      await r.close();
    }
  }, 60_000);

  it("an expired lease removes exactly the dead node", async () => {
    const r = await openRegistry(url(`faults${process.pid}b`, "2s"));
    const nodes = Array.from({ length: 6 }, () => makeNode("zone.trusted.org"));
    const dead = nodes[3]!;
    try {
      for (const n of nodes) await r.register(n.entry, n.identity);
      const changes = r.watch({ zone: "zone.trusted.org" }, { updatesOnly: true });
      const beat = setInterval(() => {
        for (const n of nodes) if (n !== dead) void r.heartbeat(n.address).catch(() => undefined);
      }, 400);
      try {
        const seen: RegistryChange[] = [];
        const expired = await nextMatching(changes, (c) => c.kind === "expired", 20_000, seen);
        expect(expired.address).toBe(dead.address);
        expect(await codeOf(() => r.resolve(dead.address))).toBe(ErrorCode.NotFound);
        const live = (await r.list({ zone: "zone.trusted.org" })).map((e) => e.address);
        expect(live).toEqual(nodes.filter((n) => n !== dead).map((n) => n.address).sort());
        expect(seen.filter((c) => c.kind !== "expired")).toEqual([]);
      } finally {
        clearInterval(beat);
        await changes.return!();
      }
    } finally {
      await r.close();
    }
  }, 60_000);
}
