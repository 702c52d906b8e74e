/**
 * An etcd registry with authentication on, attacked by a hostile node of zone A holding the role
 * docs/registry.md tells an operator to give a node (readwrite on the entries' and the marks'
 * prefixes), which covers every zone's keys. It writes forged and replayed registrations under a
 * zone-B node's key, and fills etcd's space quota, which is the whole cluster's. The etcd here has
 * a quota of 16 MiB (etcd's default is 2 GiB), so that filling it takes a few writes.
 */
import { Etcd3, Range } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { Registry } from "../../runtime/registry/registry.js";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { codeOf, makeNode, partsOf, resign } from "./fixtures.js";
import { etcdWriter } from "./store-writer.js";

const PREFIX = "/onex/registry/";
const MARKS = "/onex/registry#marks/";
const QUOTA_BYTES = 16 * 1024 * 1024;
let etcd: EtcdServer;
let root: Etcd3;
/** The hostile node's own client, with the node role. */
let attacker: Etcd3;
const opened: Registry[] = [];

/** A user with the node role docs/registry.md names. */
async function nodeUser(name: string): Promise<{ url: string; client: Etcd3 }> {
  await root.user(name).create(`${name}-pass`);
  await root.user(name).addRole("node");
  const url = `etcd://${name}:${name}-pass@${etcd.clientUrl.replace(/^http:\/\//, "")}?ttl=5m`;
  return { url, client: new Etcd3({ hosts: etcd.clientUrl, auth: { username: name, password: `${name}-pass` } }) };
}

async function registryOf(url: string): Promise<Registry> {
  const registry = await openRegistry(url, { onTampered: () => {}, logger: { warn() {} } });
  opened.push(registry);
  return registry;
}

beforeAll(async () => {
  // etcd reads its flags from ETCD_* variables too; the test server passes none of its own for the quota.
  process.env.ETCD_QUOTA_BACKEND_BYTES = String(QUOTA_BYTES);
  try {
    etcd = await startEtcdServer();
  } finally {
    delete process.env.ETCD_QUOTA_BACKEND_BYTES;
  }
  const plain = new Etcd3({ hosts: etcd.clientUrl });
  await plain.user("root").create("root-pass");
  await plain.user("root").addRole("root");
  await plain.auth.authEnable();
  plain.close();
  root = new Etcd3({ hosts: etcd.clientUrl, auth: { username: "root", password: "root-pass" } });
  await root.role("node").create();
  for (const prefix of [PREFIX, MARKS]) await root.role("node").grant({ permission: "Readwrite", range: Range.prefix(prefix) });
  attacker = (await nodeUser("node-a")).client;
}, 60_000);

afterAll(async () => {
  await Promise.all(opened.map((r) => r.close()));
  attacker?.close();
  root?.close();
  await etcd?.stop();
});

describe("a hostile zone-A node with the node role, against zone B's entries", () => {
  it("a forged or replayed registration it writes under a zone-B node's key is refused by every reader", async () => {
    const registry = await registryOf((await nodeUser("node-b1")).url);
    const node = makeNode("zone.b");
    await registry.register(node.entry, node.identity);
    const key = etcdWriter(etcd.clientUrl, PREFIX, 300).keyOf(partsOf(node));
    expect(await attacker.get(key).string()).not.toBeNull();
    const lease = attacker.lease(300, { autoKeepAlive: false });
    // A forgery: the genuine registration with its status changed.
    await lease.put(key).value(JSON.stringify({ format: 1, entry: { ...node.entry, health: { status: "critical" } }, identity: node.identity }));
    const fresh = await registryOf((await nodeUser("node-b2")).url);
    expect(await codeOf(() => fresh.resolve(node.address))).toBe(ErrorCode.EntryTampered);
    expect(await fresh.list({ zone: "zone.b" })).toEqual([]);
    // The node's heartbeat puts its own registration back; then a newer one; the attacker writes the older back.
    await registry.heartbeat(node.address);
    const newer = resign(node, { capabilities: ["compute", "gpu"] });
    await registry.register(newer, node.identity);
    // (The node's write revoked the lease its key was on, the attacker's: it takes another.)
    await attacker.lease(300, { autoKeepAlive: false }).put(key).value(JSON.stringify({ format: 1, entry: node.entry, identity: node.identity }));
    const error = await fresh.resolve(node.address).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OnexError);
    expect(error).toMatchObject({ code: ErrorCode.EntryTampered, details: { cause: ErrorCode.Replay } });
  }, 60_000);

  it("filling etcd's space quota stops every zone's registrations, with a refusal that says so; heartbeats and reads go on", async () => {
    const registry = await registryOf((await nodeUser("node-b3")).url);
    const present = makeNode("zone.b");
    await registry.register(present.entry, present.identity);
    // Values of 1 MiB (etcd takes requests up to 1.5 MiB) under the attacker's own zone's keys.
    const junk = "x".repeat(1024 * 1024);
    let writes = 0;
    for (; writes < 64; writes++) {
      const refused = await attacker
        .put(`${PREFIX}zone.a/node/junk-${writes}`)
        .value(junk)
        .then(
          () => false,
          (e: unknown) => /database space exceeded/.test(String(e)),
        );
      if (refused) break;
    }
    expect(writes).toBeLessThan(64);
    const node = makeNode("zone.b");
    const error = await registry.register(node.entry, node.identity).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OnexError);
    expect(error).toMatchObject({ code: ErrorCode.RegistryUnavailable, details: { quota: true } });
    expect((error as OnexError).message).toContain("etcd's space quota is used up");
    await registry.heartbeat(present.address);
    expect((await registry.resolve(present.address)).entry.signature).toBe(present.entry.signature);
    const listed = (await registry.list({ zone: "zone.b" })).map((e) => e.address);
    expect(listed).toContain(present.address);
    expect(listed).not.toContain(node.address);
  }, 60_000);
});
