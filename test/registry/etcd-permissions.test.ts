/**
 * An etcd registry whose user may read or write only some keys, on an etcd with authentication
 * on, as a deployment that gives each service a role of its own runs it. The adapter keeps the
 * high-water marks under `<prefix without its last "/">#marks/`, outside the entries' prefix, so
 * a role granted the entries' prefix alone (the obvious grant) cannot read them: its watch
 * reported no registration and logged nothing, retrying the refused mark read for as long as it
 * ran. Every operation must work with the grant docs/registry.md names, and every refusal be
 * ONEX_E_REGISTRY_UNAVAILABLE naming the permission and both prefixes.
 */
import { Etcd3, Range } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { Registry } from "../../runtime/registry/registry.js";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { makeNode, nextMatching } from "./fixtures.js";

const ZONE = "zone.trusted.org";
const PREFIX = "/onex/registry/";
const MARKS = "/onex/registry#marks/";
let etcd: EtcdServer;
let admin: Etcd3;
let root: Registry;

/** A user with a role of its own, granted `permission` on each prefix of `prefixes`. */
async function userWith(name: string, permission: "Read" | "Readwrite", prefixes: string[]): Promise<string> {
  await admin.role(name).create();
  for (const prefix of prefixes) await admin.role(name).grant({ permission, range: Range.prefix(prefix) });
  await admin.user(name).create(`${name}-pass`);
  await admin.user(name).addRole(name);
  return `etcd://${name}:${name}-pass@${etcd.clientUrl.replace(/^http:\/\//, "")}?ttl=5m`;
}

/** The error `fn` rejects with, which must be a refusal naming `permission` and both prefixes. */
async function refusalOf(fn: () => Promise<unknown>, permission: "read" | "readwrite"): Promise<OnexError> {
  const error = await fn().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OnexError);
  const refused = error as OnexError;
  expect(refused.code).toBe(ErrorCode.RegistryUnavailable);
  expect(refused.details).toMatchObject({ permission, prefixes: [PREFIX, MARKS] });
  expect(refused.message).toContain(`needs ${permission} permission on the prefix ${PREFIX} (entries) and on the prefix ${MARKS} (high-water marks)`);
  return refused;
}

beforeAll(async () => {
  etcd = await startEtcdServer();
  const plain = new Etcd3({ hosts: etcd.clientUrl });
  await plain.user("root").create("root-pass");
  await plain.user("root").addRole("root");
  await plain.auth.authEnable();
  plain.close();
  admin = new Etcd3({ hosts: etcd.clientUrl, auth: { username: "root", password: "root-pass" } });
  root = await openRegistry(`etcd://root:root-pass@${etcd.clientUrl.replace(/^http:\/\//, "")}?ttl=5m`, { logger: { warn() {} } });
});
afterAll(async () => {
  await root?.close();
  admin?.close();
  await etcd?.stop();
});

describe("a role granted the entries' prefix alone", () => {
  it("is refused as the registry opens, naming the permission and the marks' prefix it lacks", async () => {
    const url = await userWith("entries-only", "Readwrite", [PREFIX]);
    const error = await refusalOf(() => openRegistry(url, { logger: { warn() {} } }), "read");
    expect(error.message).toMatch(/permission denied/);
  });
});

describe("the grant docs/registry.md names", () => {
  it("readwrite on both prefixes: register, resolve, list, watch, heartbeat and deregister all work", async () => {
    const registry = await openRegistry(await userWith("node-role", "Readwrite", [PREFIX, MARKS]), { logger: { warn() {} } });
    try {
      const before = makeNode(ZONE);
      await root.register(before.entry, before.identity);
      const watch = registry.watch({ zone: ZONE });
      await nextMatching(watch, (c) => c.kind === "registered" && c.address === before.address);
      const node = makeNode(ZONE);
      await registry.register(node.entry, node.identity);
      await nextMatching(watch, (c) => c.kind === "registered" && c.address === node.address);
      expect((await registry.resolve(node.address)).entry.signature).toBe(node.entry.signature);
      expect((await registry.list({ zone: ZONE })).map((e) => e.address)).toEqual(expect.arrayContaining([before.address, node.address]));
      await registry.heartbeat(node.address);
      expect(await registry.deregister(node.address)).toBe(true);
      await nextMatching(watch, (c) => c.kind === "deregistered" && c.address === node.address);
      await watch.return?.();
    } finally {
      await registry.close();
    }
  }, 60_000);

  it("read on both prefixes: resolve, list and watch work; register is refused, naming readwrite", async () => {
    const registry = await openRegistry(await userWith("reader-role", "Read", [PREFIX, MARKS]), { logger: { warn() {} } });
    try {
      const node = makeNode(ZONE);
      await root.register(node.entry, node.identity);
      const watch = registry.watch({ zone: ZONE });
      await nextMatching(watch, (c) => c.kind === "registered" && c.address === node.address);
      await watch.return?.();
      expect((await registry.resolve(node.address)).entry.signature).toBe(node.entry.signature);
      expect((await registry.list({ zone: ZONE })).map((e) => e.address)).toContain(node.address);
      const own = makeNode(ZONE);
      await refusalOf(() => registry.register(own.entry, own.identity), "readwrite");
    } finally {
      await registry.close();
    }
  }, 60_000);
});

describe("the marks' grant revoked from an open registry", () => {
  it("every operation works or is refused with the grant it needs; the watch ends with the refusal, not in silence", async () => {
    const registry = await openRegistry(await userWith("revoked-role", "Readwrite", [PREFIX, MARKS]), { logger: { warn() {} } });
    try {
      const node = makeNode(ZONE);
      await registry.register(node.entry, node.identity);
      // Another's entry: this registry knows its own fresh, and reads it without its mark.
      const theirs = makeNode(ZONE);
      await root.register(theirs.entry, theirs.identity);
      await admin.role("revoked-role").revoke({ permission: "Readwrite", range: Range.prefix(MARKS) });
      const other = makeNode(ZONE);
      await refusalOf(() => registry.register(other.entry, other.identity), "readwrite");
      await refusalOf(() => registry.resolve(theirs.address), "read");
      await refusalOf(() => registry.list({ zone: ZONE }), "read");
      // A heartbeat reads the entry with its mark before it refreshes the lease.
      await refusalOf(() => registry.heartbeat(node.address), "read");
      // The watch's snapshot holds the node, whose mark it may not read.
      const watch = registry.watch({ zone: ZONE });
      await refusalOf(() => nextMatching(watch, () => false, 30_000), "read");
      // A watch of a scope with no entries is refused as etcd refuses the watch itself (its range takes in the marks).
      const empty = registry.watch({ zone: "zone.empty.org" });
      await refusalOf(() => nextMatching(empty, () => false, 30_000), "read");
      // Deregistering touches the entries' prefix alone.
      expect(await registry.deregister(node.address)).toBe(true);
    } finally {
      await registry.close();
    }
  }, 90_000);
});
