/**
 * A registration's size is bounded. Node identities cost nothing to mint, and a registration is
 * held several times over by every long-lived reader (a view, a router's view, a health watcher):
 * entries of a megabyte at a few thousand addresses exhausted the memory of every such reader.
 * `register` refuses one longer than MAX_REGISTRATION_CHARS, and a read refuses one a store writer
 * put (signed, with its mark) without parsing it.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import { MAX_REGISTRATION_CHARS, openRegistry, type Registry } from "../../runtime/registry/index.js";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { codeOf, makeNode, nextMatching, partsOf } from "./fixtures.js";
import { etcdWriter, natsKvWriter, type StoreWriter } from "./store-writer.js";

const ZONE = "zone.trusted.org";
// What a watch holds, not the garbage of what it read: measured after a collection.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const heapUsed = () => {
  gc();
  return process.memoryUsage().heapUsed;
};
let nats: NatsServer;
let etcd: EtcdServer;
beforeAll(async () => {
  [nats, etcd] = await Promise.all([startNatsServer(), startEtcdServer()]);
});
afterAll(async () => {
  await Promise.all([nats?.stop(), etcd?.stop()]);
});

/** A node whose signed capabilities make its registration just over the limit. */
function oversizedNode() {
  return makeNode(ZONE, { capabilities: Array.from({ length: Math.ceil(MAX_REGISTRATION_CHARS / 50) }, (_, i) => `capability-${i}-${"x".repeat(40)}`) });
}

interface Backend {
  url: string;
  /** Writes bytes as the address's entry, around onex (etcd: on a lease of the TTL). */
  putEntry(node: ReturnType<typeof makeNode>, bytes: string): Promise<void>;
  /** Writes bytes as the address's mark, around onex. */
  putMark(node: ReturnType<typeof makeNode>, bytes: string): Promise<void>;
  close(): Promise<void>;
}

const backends: Record<string, () => Promise<Backend>> = {
  "NATS KV": async () => {
    const bucket = `size${Date.now()}`;
    const url = `${nats.url}?bucket=${bucket}&ttl=30s`;
    // Opened once so the buckets exist.
    await (await openRegistry(url)).close();
    const entries = await natsKvWriter(nats.url, bucket);
    const marks = await natsKvWriter(nats.url, `${bucket}_marks`);
    return {
      url,
      putEntry: (node, bytes) => entries.put(partsOf(node), bytes),
      putMark: (node, bytes) => marks.put(partsOf(node), bytes),
      close: async () => void (await Promise.all([entries.close(), marks.close()])),
    };
  },
  etcd: async () => {
    const prefix = `/size${Date.now()}/`;
    const writer: StoreWriter & { raw: { put(key: string, value: string): Promise<void> }; keyOf(key: ReturnType<typeof partsOf>): string } = etcdWriter(etcd.clientUrl, prefix, 30);
    return {
      url: `${etcd.url}?prefix=${prefix}&ttl=30s`,
      putEntry: (node, bytes) => writer.put(partsOf(node), bytes),
      putMark: (node, bytes) => writer.raw.put(writer.keyOf(partsOf(node)).replace(prefix, `${prefix.slice(0, -1)}#marks/`), bytes),
      close: () => writer.close(),
    };
  },
};

describe.each(Object.keys(backends))("registration size on %s", (name) => {
  let backend: Backend;
  let registry: Registry;
  const tampered: OnexError[] = [];
  beforeAll(async () => {
    backend = await backends[name]!();
    registry = await openRegistry(backend.url, { onTampered: (_address, error) => tampered.push(error) });
  });
  afterAll(async () => {
    await registry?.close();
    await backend?.close();
  });

  it("register refuses a registration over the limit, and stores nothing", async () => {
    const node = oversizedNode();
    const error = await registry.register(node.entry, node.identity).catch((e: OnexError) => e);
    expect((error as OnexError).code).toBe(ErrorCode.ValidationFailed);
    expect((error as OnexError).message).toMatch(/more than a registry takes/);
    expect(await codeOf(() => registry.resolve(node.address))).toBe(ErrorCode.NotFound);
    // One under it is taken.
    const fits = makeNode(ZONE, { capabilities: ["x".repeat(MAX_REGISTRATION_CHARS - 2_000)] });
    await expect(registry.register(fits.entry, fits.identity)).resolves.toMatchObject({ address: fits.address });
  });

  it("a signed registration over the limit, put with its mark by a store writer, is refused by resolve, list and watch", async () => {
    const node = oversizedNode();
    const bytes = JSON.stringify({ format: 1, entry: node.entry, identity: node.identity });
    expect(bytes.length).toBeGreaterThan(MAX_REGISTRATION_CHARS);
    const changes = registry.watch({ zone: ZONE }, { updatesOnly: true });
    const seen = nextMatching(changes, (c) => c.address === node.address);
    await backend.putMark(node, bytes);
    await backend.putEntry(node, bytes);
    const change = await seen;
    expect(change).toMatchObject({ kind: "tampered", address: node.address });
    expect(change.kind === "tampered" && change.error.details.cause).toBe(ErrorCode.ValidationFailed);
    await changes.return!();

    const resolved = await registry.resolve(node.address).catch((e: OnexError) => e);
    expect((resolved as OnexError).code).toBe(ErrorCode.EntryTampered);
    expect((resolved as OnexError).details.cause).toBe(ErrorCode.ValidationFailed);
    expect((await registry.list({ zone: ZONE })).map((e) => e.address)).not.toContain(node.address);
    expect(tampered.some((e) => e.details.address === node.address)).toBe(true);
  });

  it("a store writer's values of a megabyte, entries or marks, are not held by a watch", async () => {
    const changes = registry.watch({ zone: ZONE }, { updatesOnly: true });
    const barrier = makeNode(ZONE);
    const synced = nextMatching(changes, (c) => c.address === barrier.address);
    await registry.register(barrier.entry, barrier.identity);
    await synced;
    const junk = "x".repeat(1_000_000);
    const before = heapUsed();
    // A watch kept each key's last value (NATS KV, to tell a heartbeat from a change) and each mark
    // written since it began (etcd, to spare reading it): as much as the writer stored.
    const nodes = Array.from({ length: 120 }, () => makeNode(ZONE));
    for (const [i, node] of nodes.entries()) await (name === "etcd" ? backend.putMark(node, `${junk}${i}`) : backend.putEntry(node, `${junk}${i}`));
    const last = makeNode(ZONE);
    await registry.register(last.entry, last.identity);
    expect((await nextMatching(changes, (c) => c.address === last.address, 30_000)).kind).toBe("registered");
    expect(heapUsed() - before).toBeLessThan(60 * 2 ** 20);
    await changes.return!();
  }, 60_000);
});
