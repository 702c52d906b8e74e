import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import { natsKvKey, parseNatsKvKey } from "../../runtime/registry/nats-kv.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { registryConformance } from "./conformance.js";
import { registryFaults } from "./faults.js";
import { codeOf } from "./fixtures.js";
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

describe("NATS KV buckets", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => server?.stop());

  it("refuse a ?ttl= (or ?replicas=) that differs from an existing bucket's, rather than ignore it", async () => {
    const bucket = `ttl${process.pid}`;
    await (await openRegistry(`${server.url}?bucket=${bucket}&ttl=5s`)).close();
    const error = (await openRegistry(`${server.url}?bucket=${bucket}&ttl=2s`).catch((e: unknown) => e)) as OnexError;
    expect(error.code).toBe(ErrorCode.RegistryUrl);
    expect(error.message).toMatch(/max age of 5000 ms.*ttl=2000 ms/);
    expect(await codeOf(() => openRegistry(`${server.url}?bucket=${bucket}&replicas=3`))).toBe(ErrorCode.RegistryUrl);
    expect(await codeOf(() => openRegistry(`${server.url}?bucket=${bucket}&replicas=2`))).toBe(ErrorCode.RegistryUrl);
    // Without ?ttl= the bucket's own max age applies, and so does the same one.
    for (const url of [`${server.url}?bucket=${bucket}`, `${server.url}?bucket=${bucket}&ttl=5s`]) {
      const r = await openRegistry(url);
      expect(r.ttlMs).toBe(5_000);
      await r.close();
    }
  });
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
