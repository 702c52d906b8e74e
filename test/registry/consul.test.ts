/**
 * The conformance suite against Consul. No Consul agent can be installed on the machines
 * CI runs on (the issue says so), and a hand-written fake of its HTTP API would prove
 * nothing, so this file runs only when CONSUL_HTTP_ADDR names a real agent (for example
 * `CONSUL_HTTP_ADDR=127.0.0.1:8500 npx vitest run test/registry/consul.test.ts` next to
 * `consul agent -dev`). docs/registry.md states plainly that CI does not exercise Consul.
 */
import { describe } from "vitest";
import { CONSUL_MIN_TTL_MS } from "../../runtime/registry/consul.js";
import { registryConformance } from "./conformance.js";

const address = process.env.CONSUL_HTTP_ADDR?.replace(/^https?:\/\//, "");

describe.skipIf(!address)("Consul (only when CONSUL_HTTP_ADDR is set)", () => {
  registryConformance("Consul", async () => ({
    urlFor: (ns, ttl) => `consul://${address}?prefix=onex-test/${ns}/&ttl=${ttl}`,
    ttlFloorMs: CONSUL_MIN_TTL_MS,
    // Each test's prefix is its own; the agent belongs to whoever started it.
    close: async () => undefined,
  }));
});
