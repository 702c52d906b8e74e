import { afterAll, beforeAll, describe } from "vitest";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { registryConformance } from "./conformance.js";
import { registryFaults } from "./faults.js";
import { etcdWriter } from "./store-writer.js";

registryConformance("etcd", async () => {
  const server = await startEtcdServer();
  return {
    urlFor: (ns, ttl) => `${server.url}?prefix=/${ns}/&ttl=${ttl}`,
    writer: async (ns, ttlSeconds) => etcdWriter(server.clientUrl, `/${ns}/`, ttlSeconds),
    close: () => server.stop(),
  };
});

describe("etcd registry faults", () => {
  let server: EtcdServer;
  beforeAll(async () => {
    server = await startEtcdServer();
  });
  afterAll(async () => server?.stop());
  registryFaults(() => server, (ns, ttl) => `${server.url}?prefix=/${ns}/&ttl=${ttl}`);
});
