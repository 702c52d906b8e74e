/**
 * On one NATS server a registry watch reports a registration on the mark its node published just
 * ahead of the entry, seen on the watch's own connection, and reads the stored mark after. The
 * attacker here is a store writer who can publish to both buckets: one who announces an old entry
 * with a mark that is never stored (its compare-and-set fails) gets it reported for at most the
 * round trip of that read, then refused; a watch that saw the newer registration refuses it at
 * once. A watch whose user may not subscribe to the marks reads every mark, as before.
 */
import { jetstream } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import { natsKvKey } from "../../runtime/registry/nats-kv.js";
import { openRegistry, type Registry, type RegistryChange } from "../../runtime/registry/index.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { makeNode, nextMatching, partsOf, resign, type TestNode } from "./fixtures.js";

const ZONE = "zone.trusted.org";
let server: NatsServer;
let attacker: NatsConnection;
let counter = 0;
const registries: Registry[] = [];

beforeAll(async () => {
  server = await startNatsServer();
  attacker = await connect({ servers: server.url });
});
afterAll(async () => {
  await Promise.all(registries.map((r) => r.close()));
  await attacker?.close();
  await server?.stop();
});

async function open(url: string, bucket: string): Promise<Registry> {
  const registry = await openRegistry(`${url}?bucket=${bucket}&ttl=30s`);
  registries.push(registry);
  return registry;
}

/**
 * A watch of the zone, returned once it has reported a registration made after it began. Not
 * `updatesOnly`: a registration written while the watch is being established is current state,
 * which that option leaves out.
 */
async function liveWatch(registry: Registry, writer: Registry): Promise<AsyncIterableIterator<RegistryChange>> {
  const changes = registry.watch({ zone: ZONE });
  const sentinel = makeNode(ZONE);
  const seen = nextMatching(changes, (c) => c.address === sentinel.address);
  await writer.register(sentinel.entry, sentinel.identity);
  await seen;
  return changes;
}

/** `bytes` published as the address's mark with a compare-and-set that fails: every watch's tap sees it, nothing is stored. */
async function announce(bucket: string, node: TestNode, bytes: string, nc = attacker): Promise<void> {
  const stale = headers();
  stale.set("Nats-Expected-Last-Subject-Sequence", "999999");
  await expect(jetstream(nc).publish(`$KV.${bucket}_marks.${natsKvKey(partsOf(node))}`, bytes, { headers: stale })).rejects.toThrow(/wrong last sequence/i);
}

/** The store writer's move: `bytes` announced as the address's mark (nothing is stored), then put as its entry. */
async function announceAndPut(bucket: string, node: TestNode, bytes: string, nc = attacker): Promise<void> {
  await announce(bucket, node, bytes, nc);
  const entries: KV = await new Kvm(nc).open(bucket, { bindOnly: true });
  await entries.put(natsKvKey(partsOf(node)), bytes);
}

/** A node registered a minute ago (what the writer keeps), then again now; returns the old bytes. */
async function registeredTwice(r: Registry, bucket: string, node: TestNode, nc = attacker): Promise<string> {
  await r.register(node.entry, node.identity);
  const old = (await (await new Kvm(nc).open(bucket, { bindOnly: true })).get(natsKvKey(partsOf(node))))!.string();
  await r.register(resign(node, { capabilities: ["v2"] }), node.identity);
  return old;
}

/**
 * A node registered a minute ago, then again now, then gone (its mark, the newer registration,
 * stays), and a watch by a registry that never saw it: nothing the watch holds tells it the old
 * entry is old. Returns the old bytes, which the store writer kept.
 */
async function departedNode(url: string, nc = attacker) {
  const bucket = `tap${process.pid}x${++counter}`;
  const r = await open(url, bucket);
  const node = makeNode(ZONE, { registeredAt: new Date(Date.now() - 60_000).toISOString() });
  const old = await registeredTwice(r, bucket, node, nc);
  expect(await r.deregister(node.address)).toBe(true);
  const watcher = await open(url, bucket);
  return { bucket, node, old, watcher, changes: await liveWatch(watcher, r) };
}

describe("NATS KV watch on one server: marks seen as they are published", () => {
  it("a replayed entry announced by a mark that is never stored is reported, then refused once the stored mark is read", async () => {
    const { bucket, node, old, watcher, changes } = await departedNode(server.url);

    await announceAndPut(bucket, node, old);
    const seen: RegistryChange[] = [];
    const refused = await nextMatching(changes, (c) => c.address === node.address && c.kind === "tampered", 15_000, seen);
    expect(refused.kind === "tampered" && refused.error.details.cause).toBe(ErrorCode.Replay);
    // Reported on the published mark first (the old code read the mark before it reported, and refused at once).
    const first = seen.find((c) => c.address === node.address);
    expect(first?.kind).toBe("registered");
    expect(first?.kind === "registered" && first.entry.entry.registered_at).toBe(node.entry.registered_at);
    // Every read refuses it: the stored mark is the newer registration.
    const error = (await watcher.resolve(node.address).catch((e: unknown) => e)) as OnexError;
    expect(error).toMatchObject({ code: ErrorCode.EntryTampered, details: { cause: ErrorCode.Replay } });

    // Once caught, the address's entries are read first: the same trick again (the old entry in
    // another spelling, so the watch takes it for a change) is refused at once.
    await announceAndPut(bucket, node, `${old} `);
    const again = await nextMatching(changes, (c) => c.address === node.address);
    expect(again.kind).toBe("tampered");
    await changes.return!();
  });

  it("a replay rewritten in new bytes again and again is refused while the writes go on", async () => {
    const { bucket, node, old, changes } = await departedNode(server.url);
    let refused = false;
    const watching = nextMatching(changes, (c) => c.address === node.address && c.kind === "tampered", 60_000).then(() => (refused = true));
    await announceAndPut(bucket, node, old);
    // The same old registration, each time with one more space after the JSON: new bytes every write.
    const entries: KV = await new Kvm(attacker).open(bucket, { bindOnly: true });
    let writes = 0;
    while (!refused && writes < 2_000) await entries.put(natsKvKey(partsOf(node)), old + " ".repeat(++writes));
    expect(refused).toBe(true);
    await watching;
    await changes.return!();
  });

  it("a mark published at a key no address spells is passed over, and the watch goes on", async () => {
    const bucket = `tap${process.pid}x${++counter}`;
    const r = await open(server.url, bucket);
    const watcher = await open(server.url, bucket);
    const changes = await liveWatch(watcher, r);
    attacker.publish(`$KV.${bucket}_marks.${natsKvKey({ zone: ZONE, entityType: "node", id: "x".repeat(300) })}`, "{}");
    attacker.publish(`$KV.${bucket}_marks.BAD.node.x`, "{}");
    await attacker.flush();
    const node = makeNode(ZONE);
    await r.register(node.entry, node.identity);
    expect((await nextMatching(changes, (c) => c.address === node.address)).kind).toBe("registered");
    await changes.return!();
  });

  it("marks of a megabyte, published at 200 addresses and never stored, are not kept by the watch", async () => {
    const bucket = `tap${process.pid}x${++counter}`;
    const r = await open(server.url, bucket);
    const watcher = await open(server.url, bucket);
    const changes = await liveWatch(watcher, r);
    const stale = headers();
    stale.set("Nats-Expected-Last-Subject-Sequence", "999999");
    const junk = "x".repeat(1_000_000);
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 200; i++) {
      // Each watch kept the last mark of 1,024 keys, whatever its size: a gigabyte for 1,024 of these.
      attacker.publish(`$KV.${bucket}_marks.${natsKvKey(partsOf(makeNode(ZONE)))}`, `${junk}${i}`, { headers: stale });
      if (i % 20 === 19) await attacker.flush();
    }
    await attacker.flush();
    const node = makeNode(ZONE);
    await r.register(node.entry, node.identity);
    expect((await nextMatching(changes, (c) => c.address === node.address)).kind).toBe("registered");
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(100 * 2 ** 20);
    await changes.return!();
  });

  it("a registry that watches its own registrations, made back to back, reports each and refuses none", async () => {
    const bucket = `tap${process.pid}x${++counter}`;
    const r = await open(server.url, bucket);
    const changes = await liveWatch(r, r);
    const node = makeNode(ZONE);
    for (let i = 0; i < 10; i++) {
      await r.register(resign(node, { capabilities: [`a${i}`] }), node.identity);
      await r.register(resign(node, { capabilities: [`b${i}`] }), node.identity);
    }
    const last = makeNode(ZONE);
    await r.register(last.entry, last.identity);
    const seen: RegistryChange[] = [];
    await nextMatching(changes, (c) => c.address === last.address, 15_000, seen);
    // Each registration is reported (a superseded one may be skipped), none refused.
    expect(seen.filter((c) => c.kind !== "registered")).toEqual([]);
    expect(seen.filter((c) => c.address === node.address).at(-1)).toMatchObject({ kind: "registered", entry: { entry: { capabilities: ["b9"] } } });
    await changes.return!();
  });

  it("a watch that saw the newer registration refuses the replay at once, whatever mark was published before it", async () => {
    const bucket = `tap${process.pid}x${++counter}`;
    const r = await open(server.url, bucket);
    const watcher = await open(server.url, bucket);
    const changes = await liveWatch(watcher, r);
    const node = makeNode(ZONE, { registeredAt: new Date(Date.now() - 60_000).toISOString() });
    const old = await registeredTwice(r, bucket, node);
    const newer = await nextMatching(changes, (c) => c.address === node.address && c.kind === "registered" && c.entry.entry.capabilities?.includes("v2") === true);
    expect(newer.kind).toBe("registered");

    await announceAndPut(bucket, node, old);
    const next = await nextMatching(changes, (c) => c.address === node.address);
    expect(next.kind).toBe("tampered");
    expect(next.kind === "tampered" && next.error.details.cause).toBe(ErrorCode.Replay);
    await changes.return!();
  });

  it("a forged mark announced after the genuine one does not borrow its verdict: the forged entry put next is refused", async () => {
    const bucket = `tap${process.pid}x${++counter}`;
    const r = await open(server.url, bucket);
    const watcher = await open(server.url, bucket);
    const changes = await liveWatch(watcher, r);
    const node = makeNode(ZONE);
    await r.register(node.entry, node.identity);
    expect((await nextMatching(changes, (c) => c.address === node.address)).kind).toBe("registered");
    const genuine = (await (await new Kvm(attacker).open(bucket, { bindOnly: true })).get(natsKvKey(partsOf(node))))!.string();
    // The genuine bytes again, in a turn of their own, are verified ahead; the forgery after them is not.
    await announce(bucket, node, `${genuine} `);
    const forged = JSON.stringify({ ...JSON.parse(genuine), entry: { ...node.entry, capabilities: ["root"] } });
    await announceAndPut(bucket, node, forged);
    const next = await nextMatching(changes, (c) => c.address === node.address);
    expect(next.kind).toBe("tampered");
    expect(next.kind === "tampered" && next.error.details.cause).toBe(ErrorCode.SignatureInvalid);
    expect((await watcher.resolve(node.address).catch((e: unknown) => e)) as OnexError).toMatchObject({ code: ErrorCode.EntryTampered });
    await changes.return!();
  });

  it("once more keys turned out announced falsely than the tap keeps, it reads every mark first: a replay is refused at once", async () => {
    const { bucket, node, old, changes } = await departedNode(server.url);
    // Garbage announced and put at 1,030 fresh addresses: each is reported, refused, and its key distrusted.
    for (let i = 0; i < 1_030; i++) {
      const other = makeNode(ZONE);
      await announceAndPut(bucket, other, "garbage");
      expect((await nextMatching(changes, (c) => c.address === other.address)).kind).toBe("tampered");
    }
    // The last stored-mark checks (one round trip each, after the report) settle first.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await announceAndPut(bucket, node, old);
    const first = await nextMatching(changes, (c) => c.address === node.address);
    expect(first.kind).toBe("tampered");
    expect(first.kind === "tampered" && first.error.details.cause).toBe(ErrorCode.Replay);
    await changes.return!();
  });

  it("a registration is reported once, on its published mark, and the stored mark's check adds nothing", async () => {
    const bucket = `tap${process.pid}x${++counter}`;
    const r = await open(server.url, bucket);
    const watcher = await open(server.url, bucket);
    const changes = await liveWatch(watcher, r);
    const nodes = Array.from({ length: 5 }, () => makeNode(ZONE));
    for (const node of nodes) await r.register(node.entry, node.identity);
    // Each is reported once; a second report or a refusal would come before the last sentinel.
    const last = makeNode(ZONE);
    await r.register(last.entry, last.identity);
    const seen: RegistryChange[] = [];
    await nextMatching(changes, (c) => c.address === last.address, 15_000, seen);
    expect(seen.map((c) => [c.kind, c.address])).toEqual([...nodes, last].map((n) => ["registered", n.address]));
    await changes.return!();
  });

  it("what a watch reports on a published mark is the caller's own: changing it changes nothing the registry reads later", async () => {
    const bucket = `tap${process.pid}x${++counter}`;
    const r = await open(server.url, bucket);
    const watcher = await open(server.url, bucket);
    const changes = await liveWatch(watcher, r);
    const node = makeNode(ZONE);
    const reported = nextMatching(changes, (c) => c.address === node.address);
    await r.register(node.entry, node.identity);
    const change = await reported;
    if (change.kind !== "registered") throw new Error(`expected a registration, got ${change.kind}`);
    // The report's objects and the revision the watcher's registry remembers as verified come
    // from one parse of the mark; the caller scribbles over every part of what it was handed.
    change.entry.entry.capabilities!.push("scribbled");
    (change.entry.entry.health as { status: string }).status = "scribbled";
    change.entry.identity.zone = "scribbled";
    change.entry.parts.id = "scribbled";
    const resolved = await watcher.resolve(node.address);
    expect(resolved.entry.capabilities).toEqual(node.entry.capabilities);
    expect(resolved.entry.health).toEqual(node.entry.health);
    expect(resolved.identity).toEqual(node.identity);
    expect(resolved.parts.id).toBe(node.identity.node_id);
    await changes.return!();
  });

  it("a registry that holds entries to an age judges an entry's age as the entry arrives, not as its mark was published", async () => {
    const bucket = `tap${process.pid}x${++counter}`;
    const r = await open(server.url, bucket);
    const watcher = await openRegistry(`${server.url}?bucket=${bucket}&ttl=30s`, { maxEntryAgeMs: 1_500, onTampered: () => undefined });
    registries.push(watcher);
    const changes = await liveWatch(watcher, r);
    // The store writer stores a fresh registration as the address's mark, keeps it past the age
    // the watcher allows, then puts it as the entry: its mark, published, is the entry's bytes.
    const node = makeNode(ZONE);
    const bytes = JSON.stringify({ format: 1, entry: node.entry, identity: node.identity });
    const kvm = new Kvm(attacker);
    await (await kvm.open(`${bucket}_marks`, { bindOnly: true })).put(natsKvKey(partsOf(node)), bytes);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await (await kvm.open(bucket, { bindOnly: true })).put(natsKvKey(partsOf(node)), bytes);
    const change = await nextMatching(changes, (c) => c.address === node.address);
    expect(change.kind).toBe("tampered");
    expect(change.kind === "tampered" && change.error.details.cause).toBe(ErrorCode.TrustExpired);
    await changes.return!();
  });
});

describe("NATS KV watch whose user may not subscribe to the marks", () => {
  let guarded: NatsServer;
  let writer: NatsConnection;
  beforeAll(async () => {
    // Connections without credentials are user `w`, who may publish and read but not subscribe to KV subjects (a watch consumer delivers to an inbox).
    guarded = await startNatsServer({ config: `no_auth_user: w\nauthorization { users = [ { user: w, password: w, permissions: { subscribe: { deny: ["$KV.>"] } } } ] }` });
    writer = await connect({ servers: guarded.url });
  });
  afterAll(async () => {
    await Promise.all(registries.splice(0).map((r) => r.close()));
    await writer?.close();
    await guarded?.stop();
  });

  it("reads each mark before it reports: a replay announced by a mark is refused at once", async () => {
    const { bucket, node, old, changes } = await departedNode(guarded.url, writer);

    await announceAndPut(bucket, node, old, writer);
    const first = await nextMatching(changes, (c) => c.address === node.address);
    expect(first.kind).toBe("tampered");
    expect(first.kind === "tampered" && first.error.details.cause).toBe(ErrorCode.Replay);
    await changes.return!();
  });
});
