/**
 * Whether a NATS KV registry takes its JetStream for one server's, which stores what one
 * connection sends in the order sent (a mark and its entry go out together, one round trip), or
 * a cluster's, which orders each stream apart (the entry goes out only once its mark is stored,
 * and a watch asks now and then whether its stream was made again). A leaf node with a JetStream
 * of its own and no cluster names its own name as its cluster's in INFO, which took it for a
 * cluster: the bucket's stream says which it is.
 */
import { afterAll, describe, expect, it } from "vitest";
import { openNatsKvStore } from "../../runtime/registry/nats-kv.js";
import type { RegistryStore } from "../../runtime/registry/registry.js";
import { freePort, startNatsServer, type NatsServer } from "../support/nats-server.js";

const servers: NatsServer[] = [];
afterAll(async () => {
  for (const server of servers) await server.stop();
});

describe("a NATS KV registry on a leaf node", () => {
  it("on a leaf node with a JetStream of its own, and no cluster, orders its writes as on one server", async () => {
    const hubPort = await freePort();
    const hub = await startNatsServer({ config: `leafnodes { listen: "127.0.0.1:${hubPort}" }`, jetstream: false });
    servers.push(hub);
    const leaf = await startNatsServer({ config: `server_name: leafy\njetstream { domain: leaf }\nleafnodes { remotes: [{ url: "nats-leaf://127.0.0.1:${hubPort}" }] }` });
    servers.push(leaf);
    const store = (await openNatsKvStore({ servers: [leaf.url], ttlMs: 60_000 })) as RegistryStore & { oneServer?: boolean };
    try {
      expect(store.oneServer).toBe(true);
    } finally {
      await store.close();
    }
  });
});
