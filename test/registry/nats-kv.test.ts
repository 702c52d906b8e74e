import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { natsKvKey, parseNatsKvKey } from "../../runtime/registry/nats-kv.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { registryConformance } from "./conformance.js";
import { registryFaults } from "./faults.js";
import { natsKvWriter } from "./store-writer.js";

registryConformance("NATS KV", async () => {
  const server = await startNatsServer();
  return { urlFor: (ns, ttl) => `${server.url}?bucket=${ns}&ttl=${ttl}`, writer: (ns) => natsKvWriter(server.url, ns), close: () => server.stop() };
});

describe("NATS KV registry faults", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => server?.stop());
  registryFaults(() => server, (ns, ttl) => `${server.url}?bucket=${ns}&ttl=${ttl}`);
});

describe("NATS KV keys", () => {
  it("spell addresses as valid KV keys and read back exactly", () => {
    const key = { zone: "zone.trusted.org", entityType: "node" as const, id: "n 1/ü.x" };
    const k = natsKvKey(key);
    expect(k).toMatch(/^[-/_=.a-zA-Z0-9]+$/);
    expect(k.split(".")).toHaveLength(3);
    expect(parseNatsKvKey(k)).toEqual(key);
    expect(parseNatsKvKey("a.robot.b")).toBeUndefined();
  });
});
