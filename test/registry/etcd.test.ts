import { afterAll, beforeAll, describe } from "vitest";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { registryConformance } from "./conformance.js";
import { registryFaults } from "./faults.js";

registryConformance("etcd", async () => {
  const server = await startEtcdServer();
  return { urlFor: (ns, ttl) => `${server.url}?prefix=/${ns}/&ttl=${ttl}`, close: () => server.stop() };
});

describe("etcd registry faults", () => {
  let server: EtcdServer;
  beforeAll(async () => {
    server = await startEtcdServer();
  });
  afterAll(async () => server?.stop());
  registryFaults(() => server, (ns, ttl) => `${server.url}?prefix=/${ns}/&ttl=${ttl}`);
});
