/**
 * The two backends CI runs, for a test file that runs each of its cases on both: a real
 * nats-server and etcd started before its tests and stopped after them, each backend's registry
 * URL for a namespace of the case's own, and the registries the file opens, closed before the
 * servers stop. Call once, at the top of the file (it registers the file's beforeAll/afterAll).
 */
import { afterAll, beforeAll } from "vitest";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { Registry } from "../../runtime/registry/registry.js";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";

export interface BothBackends {
  /** Each backend's registry URL for namespace `ns` (a TTL of 30 s): for `describe.each`. */
  readonly backends: { name: "NATS KV" | "etcd"; url: (ns: string) => string }[];
  /** A registry on `url` whose tampering and warnings are not printed; closed after the file's tests. */
  opened(url: string, retiredKeys?: string[]): Promise<Registry>;
  /** Keeps `registry` (opened otherwise) to be closed after the file's tests. */
  keep<R extends Registry>(registry: R): R;
  /** The servers, once started. */
  servers(): { nats: NatsServer; etcd: EtcdServer };
}

export function bothBackends(): BothBackends {
  let nats: NatsServer | undefined;
  let etcd: EtcdServer | undefined;
  const open: Registry[] = [];
  beforeAll(async () => {
    [nats, etcd] = await Promise.all([startNatsServer(), startEtcdServer()]);
  });
  afterAll(async () => {
    await Promise.all(open.map((r) => r.close()));
    await Promise.all([nats?.stop(), etcd?.stop()]);
  });
  const servers = () => {
    if (nats === undefined || etcd === undefined) throw new Error("the registry servers are not started yet (use them inside a test)");
    return { nats, etcd };
  };
  const keep = <R extends Registry>(registry: R): R => {
    open.push(registry);
    return registry;
  };
  return {
    backends: [
      { name: "NATS KV", url: (ns) => `${servers().nats.url}?bucket=${ns}&ttl=30s` },
      { name: "etcd", url: (ns) => `${servers().etcd.url}?prefix=/${ns}/&ttl=30s` },
    ],
    opened: async (url, retiredKeys) => keep(await openRegistry(url, { ...(retiredKeys ? { retiredKeys } : {}), onTampered: () => {}, logger: { warn: () => {} } })),
    keep,
    servers,
  };
}
