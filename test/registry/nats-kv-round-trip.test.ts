/**
 * NATS KV register sends its two compare-and-sets (the mark, then the entry) together, in one
 * round trip, since two buckets have no transaction. What that must not change: a reader that
 * finds the entry before its mark (a cluster orders each stream apart) looks once more rather
 * than calling it unmarked, an entry whose mark is really gone is still refused, and a mark
 * write that loses its compare-and-set while the entry write wins ends, after the retry, with
 * both holding the registration.
 */
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import { natsKvKey, openNatsKvStore } from "../../runtime/registry/nats-kv.js";
import type { RegistryStore, StoredSlot, WrittenRevisions } from "../../runtime/registry/registry.js";
import { TrustedRegistry } from "../../runtime/registry/trusted-registry.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { makeNode, partsOf, resign } from "./fixtures.js";

let server: NatsServer;
let nc: NatsConnection;
let counter = 0;
const stores: RegistryStore[] = [];

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await nc?.close();
  await server?.stop();
});

/** A store over a fresh bucket, with hooks to see what `write` returned and to hide a mark from `read`. */
async function store(bucket = `rt${process.pid}x${++counter}`) {
  const real = await openNatsKvStore({ servers: [server.url], bucket, ttlMs: 30_000 });
  stores.push(real);
  const writes: (WrittenRevisions | undefined)[] = [];
  let hideMarkOnce = false;
  const wrapped: RegistryStore = {
    kind: real.kind,
    ttlMs: real.ttlMs,
    get: (key) => real.get(key),
    read: async (key): Promise<StoredSlot> => {
      const slot = await real.read(key);
      if (!hideMarkOnce) return slot;
      hideMarkOnce = false;
      const { mark: _mark, ...rest } = slot;
      return rest;
    },
    write: async (...args) => {
      const written = await real.write(...args);
      writes.push(written);
      return written;
    },
    heartbeat: (key, revision) => real.heartbeat(key, revision),
    delete: (key) => real.delete(key),
    list: (prefix) => real.list(prefix),
    watch: (prefix, signal) => real.watch(prefix, signal),
    getMark: (key) => real.getMark(key),
    close: async () => undefined,
  };
  const kvm = new Kvm(nc);
  return { bucket, store: wrapped, writes, hideMarkOnce: () => void (hideMarkOnce = true), entries: await kvm.open(bucket), marks: await kvm.open(`${bucket}_marks`) };
}

describe("NATS KV register in one round trip", () => {
  it("stores mark and entry with the same bytes; a reader that finds the entry before its mark looks once more", async () => {
    const s = await store();
    const node = makeNode();
    await new TrustedRegistry(s.store).register(node.entry, node.identity);
    const k = natsKvKey(partsOf(node));
    expect((await s.marks.get(k))?.string()).toBe((await s.entries.get(k))?.string());

    // A reader that never saw the address, and whose read comes back with the entry but not yet the mark.
    s.hideMarkOnce();
    const reader = new TrustedRegistry(s.store, { onTampered: () => undefined });
    expect((await reader.resolve(node.address)).entry).toEqual(node.entry);
  });

  it("still refuses an entry whose mark is gone", async () => {
    const s = await store();
    const node = makeNode();
    await new TrustedRegistry(s.store).register(node.entry, node.identity);
    await s.marks.purge(natsKvKey(partsOf(node)));
    const error = (await new TrustedRegistry(s.store, { onTampered: () => undefined }).resolve(node.address).catch((e: unknown) => e)) as OnexError;
    expect(error).toMatchObject({ code: ErrorCode.EntryTampered, details: { cause: ErrorCode.Replay } });
  });

  it("a mark write that loses its compare-and-set while the entry write wins is retried until both hold the registration", async () => {
    const s = await store();
    const node = makeNode(undefined, { registeredAt: new Date(Date.now() - 60_000).toISOString() });
    const registry = new TrustedRegistry(s.store);
    await registry.register(node.entry, node.identity);
    const k = natsKvKey(partsOf(node));
    // Someone writes the same mark bytes again: the mark's revision moves, the entry's does not,
    // so the registry's next write sends a mark compare-and-set that fails beside one that succeeds.
    await s.marks.put(k, (await s.marks.get(k))!.string());
    const newer = resign(node, { capabilities: ["v2"] });
    s.writes.length = 0;
    const registered = await registry.register(newer, node.identity);
    expect(s.writes[0]).toBeUndefined();
    expect(s.writes.at(-1)).toMatchObject({ revision: registered.revision });
    expect(s.writes.at(-1)?.markRevision).toBeDefined();

    const stored = JSON.stringify({ format: 1, entry: newer, identity: node.identity });
    expect((await s.entries.get(k))?.string()).toBe(stored);
    expect((await s.marks.get(k))?.string()).toBe(stored);
    expect((await new TrustedRegistry(s.store).resolve(node.address)).entry).toEqual(newer);
    // And the older registration, offered again, is a replay.
    expect(await registry.register(node.entry, node.identity).catch((e: unknown) => (e as OnexError).code)).toBe(ErrorCode.Replay);
  });

  it("a mark write that fails outright while the entry write succeeds is written again, so readers never take the entry for a replay", async () => {
    const bucket = `rt${process.pid}x${++counter}`;
    const real = await openNatsKvStore({ servers: [server.url], bucket, ttlMs: 30_000 });
    stores.push(real);
    // The mark's first write times out (as a server under load can), the entry's goes through.
    const marks = (real as unknown as { marks: { create: (...args: unknown[]) => Promise<number> } }).marks;
    const create = marks.create.bind(marks);
    let failures = 1;
    marks.create = async (...args: unknown[]) => {
      if (failures-- > 0) throw new Error("TIMEOUT");
      return create(...args);
    };
    const node = makeNode();
    await new TrustedRegistry(real).register(node.entry, node.identity);
    expect(failures).toBe(-1);
    const kvm = new Kvm(nc);
    const k = natsKvKey(partsOf(node));
    expect((await (await kvm.open(`${bucket}_marks`)).get(k))?.string()).toBe((await (await kvm.open(bucket)).get(k))?.string());
    expect((await new TrustedRegistry(real).resolve(node.address)).entry).toEqual(node.entry);
  });
});
