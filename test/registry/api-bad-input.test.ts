/**
 * What the registry API does with arguments plain JavaScript can give it, and with calls in
 * flight as it closes, against a real nats-server and etcd. Each case failed otherwise: a raw
 * TypeError (`list(null)`, an `onSynced` that is no function, once the watch synced), a filter
 * that matched nothing for good (`entityType: "nodes"`, `health: "ok"`), or a closed registry's
 * call reported as ONEX_E_REGISTRY_UNAVAILABLE, an outage worth retrying.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { RegistryFilter } from "../../runtime/registry/registry.js";
import { bothBackends } from "./both-backends.js";
import { codeOf, makeNode } from "./fixtures.js";

const servers = bothBackends();
const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error as OnexError);
const loose = (filter: unknown) => filter as RegistryFilter;

describe.each(servers.backends)("$name registry, given what the types forbid", ({ url }) => {
  it("refuses a list filter that is no object, as watch does", async () => {
    const registry = await servers.opened(url(`bad-list-${process.pid}`));
    const error = await failure(registry.list(loose(null)));
    expect([error?.code, error?.message]).toEqual([ErrorCode.Usage, "list: filter must be an object, not null"]);
    expect(await codeOf(() => registry.list(loose("zone.trusted.org")))).toBe(ErrorCode.Usage);
  });

  it("refuses a watch onSynced that is no function as the watch is made", async () => {
    const registry = await servers.opened(url(`bad-synced-${process.pid}`));
    const node = makeNode();
    await registry.register(node.entry, node.identity);
    for (const onSynced of [true, 5, "done"]) {
      let error: unknown;
      try {
        const changes = registry.watch({}, { onSynced: onSynced as unknown as () => void });
        // The old code took it, and the watch failed with a raw TypeError once it had synced.
        await changes.next();
        await changes.next().catch((e: unknown) => (error = e));
        await changes.return?.();
      } catch (e) {
        error ??= e;
      }
      expect((error as OnexError | undefined)?.code).toBe(ErrorCode.Usage);
      expect((error as Error).message).toContain("watch: options.onSynced must be a function");
    }
  });

  it("refuses an entity type, health or capability no entry can have, in list and watch, and still filters by the real ones", async () => {
    const registry = await servers.opened(url(`bad-filter-${process.pid}`));
    const node = makeNode("zone.trusted.org", { status: "warning", capabilities: ["gpu"] });
    await registry.register(node.entry, node.identity);
    const refused = [{ entityType: "nodes" }, { entityType: "Node" }, { entityType: 5 }, { health: "ok" }, { health: "PASSING" }, { capability: 5 }, { capability: ["gpu"] }];
    for (const filter of refused) {
      const listed = await failure(registry.list(loose(filter)));
      expect([JSON.stringify(filter), listed?.code]).toEqual([JSON.stringify(filter), ErrorCode.Usage]);
      expect(listed?.message).toMatch(/^list: filter\.(entityType|health|capability) /);
      expect([JSON.stringify(filter), await codeOf(async () => registry.watch(loose(filter)))]).toEqual([JSON.stringify(filter), ErrorCode.Usage]);
    }
    // A registry view's list, too.
    const view = await registry.view("zone.trusted.org");
    try {
      for (const filter of refused) expect([JSON.stringify(filter), await codeOf(async () => view.list(loose(filter)))]).toEqual([JSON.stringify(filter), ErrorCode.Usage]);
    } finally {
      await view.close();
    }
    const entityError = await failure(registry.list(loose({ entityType: "nodes" })));
    expect(entityError?.message).toContain("node, agent, session, task");
    // What an entry can have is taken, and filters as before.
    expect((await registry.list({ entityType: "node", health: "warning", capability: "gpu" })).map((e) => e.address)).toEqual([node.address]);
    expect(await registry.list({ entityType: "agent" })).toEqual([]);
    expect(await registry.list({ health: "passing" })).toEqual([]);
    const changes = registry.watch({ entityType: "node", health: "warning" });
    try {
      const first = await changes.next();
      expect(first.value?.kind === "registered" && first.value.address).toBe(node.address);
    } finally {
      await changes.return?.();
    }
  });
});

describe.each(servers.backends)("$name registry closed with calls in flight", ({ url }) => {
  it("fails each call the closing connection ended with the closed registry's ONEX_E_USAGE, with the store's failure as its cause", async () => {
    let refused = 0;
    for (let round = 0; round < 2; round++) {
      const registry = await openRegistry(url(`closing-${round}-${process.pid}`), { onTampered: () => {}, logger: { warn: () => {} } });
      const node = makeNode();
      await registry.register(node.entry, node.identity);
      const more = Array.from({ length: 4 }, () => makeNode());
      const calls = [...more.map((m) => registry.register(m.entry, m.identity)), registry.list(), registry.resolve(node.address), registry.heartbeat(node.address), registry.keyFor(node.address)];
      const closing = registry.close();
      const settled = await Promise.allSettled(calls);
      await closing;
      for (const outcome of settled) {
        if (outcome.status === "fulfilled") continue;
        const error = outcome.reason as OnexError;
        // On etcd every such call failed as ONEX_E_REGISTRY_UNAVAILABLE ("the client was already closed"), on NATS KV some.
        expect([error.code, error.message]).toEqual([ErrorCode.Usage, expect.stringMatching(/^registry (register|list|resolve|heartbeat|keyFor): the registry is closed$/)]);
        expect(error.details.closed).toBe(true);
        expect(error.cause).toBeDefined();
        refused++;
      }
    }
    // Closing ends some of the calls it finds under way (on etcd, every one): the case is met.
    expect(refused).toBeGreaterThan(0);
  });

  it("fails a view opening as close() is called, and one asked for after it, naming view", async () => {
    const registry = await openRegistry(url(`closing-view-${process.pid}`), { onTampered: () => {}, logger: { warn: () => {} } });
    const opening = failure(registry.view("zone.trusted.org"));
    await registry.close();
    const inFlight = await opening;
    expect([inFlight?.code, inFlight?.message]).toEqual([ErrorCode.Usage, "registry view: the registry is closed"]);
    // It said "registry watch: the registry is closed", the call view makes.
    const after = await failure(registry.view());
    expect([after?.code, after?.message]).toEqual([ErrorCode.Usage, "registry view: the registry is closed"]);
  });
});
