/**
 * keepAlive while the store refuses the registry's user for want of a grant, as an operator
 * revokes it at run time and gives it back. No retry fixes a missing grant, but the operator does,
 * without restarting the node: the loop must go on (at the heartbeat interval), say the refusal
 * once rather than at every attempt (a line every third of the TTL for as long as the grant was
 * missing), and register the node again once the grant is back. On an etcd with authentication on
 * (the grants docs/registry.md names, revoked from the node's role and given back), and on a
 * nats-server whose node user lacks publish permission on the entries' bucket (a configuration
 * reload is not used: nats-server 2.9's reload leaves the registry's direct gets unanswered on the
 * connection it had, whatever the new permissions).
 */
import { Etcd3, Range } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../runtime/errors.js";
import { keepAlive } from "../../runtime/registry/keep-alive.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { Registry } from "../../runtime/registry/registry.js";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { codeOf, eventually, makeNode } from "./fixtures.js";

const ZONE = "zone.trusted.org";
const PREFIX = "/onex/registry/";
const MARKS = "/onex/registry#marks/";
let etcd: EtcdServer;
let nats: NatsServer;
let etcdAdmin: Etcd3;

/** An admin, and a node user with every subject docs/registry.md names but publishing to the entries' bucket. */
const NATS_CONFIG = `authorization { users: [
  { user: admin, password: "admin-pass" },
  { user: node, password: "node-pass", permissions: { publish: { allow: ["$JS.API.>", "$KV.reg_marks.>", "_INBOX.>"] }, subscribe: { allow: [">"] } } }
] }`;

beforeAll(async () => {
  [etcd, nats] = await Promise.all([startEtcdServer(), startNatsServer({ config: NATS_CONFIG })]);
  const plain = new Etcd3({ hosts: etcd.clientUrl });
  await plain.user("root").create("root-pass");
  await plain.user("root").addRole("root");
  await plain.role("node").create();
  for (const prefix of [PREFIX, MARKS]) await plain.role("node").grant({ permission: "Readwrite", range: Range.prefix(prefix) });
  await plain.user("node").create("node-pass");
  await plain.user("node").addRole("node");
  await plain.auth.authEnable();
  plain.close();
  etcdAdmin = new Etcd3({ hosts: etcd.clientUrl, auth: { username: "root", password: "root-pass" } });
});
afterAll(async () => {
  etcdAdmin?.close();
  await Promise.all([etcd?.stop(), nats?.stop()]);
});

const hostOf = (url: string) => url.replace(/^[a-z]+:\/\//, "");

const backends = [
  {
    name: "etcd",
    node: () => `etcd://node:node-pass@${hostOf(etcd.clientUrl)}?ttl=2s`,
    admin: () => `etcd://root:root-pass@${hostOf(etcd.clientUrl)}?ttl=2s`,
    revoke: async () => {
      for (const prefix of [PREFIX, MARKS]) await etcdAdmin.role("node").revoke({ permission: "Readwrite", range: Range.prefix(prefix) });
    },
    grant: async () => {
      for (const prefix of [PREFIX, MARKS]) await etcdAdmin.role("node").grant({ permission: "Readwrite", range: Range.prefix(prefix) });
    },
    permission: "read",
  },
  {
    name: "NATS KV",
    node: () => `nats://node:node-pass@${hostOf(nats.url)}?bucket=reg&ttl=2s`,
    admin: () => `nats://admin:admin-pass@${hostOf(nats.url)}?bucket=reg&ttl=2s`,
    // Never granted: the node's heartbeats (rewrites of its entry, which the admin registered) are refused from the first.
    revoke: async () => {},
    grant: undefined,
    permission: "publish",
  },
];

describe.each(backends)("$name: keepAlive refused for want of a grant", ({ node: nodeUrl, admin: adminUrl, revoke, grant, permission }) => {
  it("says the refusal once and goes on at the heartbeat interval, registering the node again once the grant is back", async () => {
    const lines: { message: string; details?: Record<string, unknown> }[] = [];
    const quiet = { warn() {} };
    const registry: Registry = await openRegistry(nodeUrl(), { logger: quiet });
    const observer: Registry = await openRegistry(adminUrl(), { logger: quiet });
    const stop = new AbortController();
    let ended: unknown = "running";
    try {
      const node = makeNode(ZONE);
      await (grant === undefined ? observer : registry).register(node.entry, node.identity);
      const loop = keepAlive(registry, node, { signal: stop.signal, intervalMs: 100, logger: { warn: (message, details) => void lines.push({ message, ...(details ? { details } : {}) }) } }).then(
        () => (ended = "resolved"),
        (error: unknown) => (ended = error),
      );
      await revoke();
      await eventually(async () => lines.length > 0, 15_000, "the refusal said");
      // The entry lapses meanwhile (its TTL is 2 s; the loop tries every 100 ms): many attempts, all refused.
      await eventually(async () => (await codeOf(() => observer.resolve(node.address)).catch(() => "resolved")) === ErrorCode.NotFound, 15_000, "the entry lapsing");
      expect(ended).toBe("running");
      const refused = lines.filter((l) => /refused|failed \(attempt/.test(l.message));
      expect(refused).toHaveLength(1);
      expect(refused[0]!.message).toMatch(/refused for want of permission/);
      expect(refused[0]!.details).toMatchObject({ address: node.address, code: ErrorCode.RegistryUnavailable, permission });
      // Given back (on etcd; see above for NATS): the node, whose entry lapsed, is registered again, and that is said.
      if (grant !== undefined) {
        await grant();
        await eventually(async () => lines.some((l) => /restored/.test(l.message)), 15_000, "the heartbeat restored");
        expect((await observer.resolve(node.address)).entry.signature).toBe(node.entry.signature);
        expect(lines.filter((l) => /refused|failed \(attempt/.test(l.message))).toHaveLength(1);
      }
      stop.abort();
      await loop;
      expect(ended).toBe("resolved");
    } finally {
      stop.abort();
      await Promise.all([registry.close(), observer.close()]);
    }
  }, 60_000);
});
