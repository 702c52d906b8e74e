/**
 * The conformance suite against Consul. No Consul agent can be installed on the machines
 * CI runs on (the issue says so), and a hand-written fake of its HTTP API would prove
 * nothing, so this file runs only when CONSUL_HTTP_ADDR names a real agent (for example
 * `CONSUL_HTTP_ADDR=127.0.0.1:8500 npx vitest run test/registry/consul.test.ts` next to
 * `consul agent -dev`). docs/registry.md states plainly that CI does not exercise Consul.
 */
import Consul from "consul";
import { describe } from "vitest";
import { CONSUL_MIN_TTL_MS } from "../../runtime/registry/consul.js";
import { pathKeyOf } from "../../runtime/registry/store-key.js";
import { registryConformance } from "./conformance.js";
import type { StoreWriter } from "./store-writer.js";

/** Raw KV access to a namespace, around onex: puts are held by a session of the given TTL, as a writer keeping an entry alive would. */
function consulWriter(host: string, prefix: string, ttlSeconds: number): StoreWriter {
  const [name, port] = host.split(":");
  const client = new Consul({ host: name!, port: Number(port ?? 8500) });
  const keyOf = (key: Parameters<StoreWriter["read"]>[0]) => pathKeyOf(prefix, key);
  return {
    async read(key) {
      const item = (await client.kv.get({ key: keyOf(key) })) as { Value: string | null } | null;
      return item?.Value ?? undefined;
    },
    async put(key, value) {
      const session = (await client.session.create({ ttl: `${Math.max(10, ttlSeconds)}s`, behavior: "delete" })) as { ID: string };
      await client.kv.set({ key: keyOf(key), value, acquire: session.ID });
    },
    async delete(key) {
      await client.kv.del({ key: keyOf(key) });
    },
    async close() {},
  };
}

const address = process.env.CONSUL_HTTP_ADDR?.replace(/^https?:\/\//, "");

describe.skipIf(!address)("Consul (only when CONSUL_HTTP_ADDR is set)", () => {
  registryConformance("Consul", async () => ({
    urlFor: (ns, ttl) => `consul://${address}?prefix=onex-test/${ns}/&ttl=${ttl}`,
    writer: async (ns, ttlSeconds) => consulWriter(address!, `onex-test/${ns}/`, ttlSeconds),
    ttlFloorMs: CONSUL_MIN_TTL_MS,
    // Each test's prefix is its own; the agent belongs to whoever started it.
    close: async () => undefined,
  }));
});
