/**
 * An etcd registry watch of a role granted the registry's two prefixes alone (the grant
 * docs/registry.md names), which etcd does not let watch the one range over both: the adapter
 * watches each prefix apart. That watch must live through what the one-range watch lives
 * through: cut off from etcd while its history is compacted past the revisions it saw, it reads
 * etcd's state again and reports what changed, and goes on reporting.
 */
import { Etcd3, Range } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { RegistryChange } from "../../runtime/registry/registry.js";
import { cuttableProxy } from "../support/cuttable-proxy.js";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { endOfStoppedWatch, makeNode, nextMatching } from "./fixtures.js";

const ZONE = "zone.trusted.org";
const PREFIX = "/onex/registry/";
const MARKS = "/onex/registry#marks/";
let etcd: EtcdServer;
let admin: Etcd3;

beforeAll(async () => {
  etcd = await startEtcdServer();
  const plain = new Etcd3({ hosts: etcd.clientUrl });
  await plain.user("root").create("root-pass");
  await plain.user("root").addRole("root");
  await plain.role("node-role").create();
  for (const prefix of [PREFIX, MARKS]) await plain.role("node-role").grant({ permission: "Readwrite", range: Range.prefix(prefix) });
  await plain.user("node").create("node-pass");
  await plain.user("node").addRole("node-role");
  await plain.auth.authEnable();
  plain.close();
  admin = new Etcd3({ hosts: etcd.clientUrl, auth: { username: "root", password: "root-pass" } });
});
afterAll(async () => {
  admin?.close();
  await etcd?.stop();
});

describe("an etcd registry watch of the two prefixes apart", () => {
  it("resumed past a compaction, reads etcd's state again, reports what changed in the gap, and goes on", async () => {
    const proxy = await cuttableProxy(Number(new URL(etcd.clientUrl).port));
    const host = proxy.host;
    const warns: string[] = [];
    const watching = await openRegistry(`etcd://node:node-pass@${host}?ttl=5m`, { logger: { warn: (m) => warns.push(m) } });
    const writer = await openRegistry(`etcd://node:node-pass@${etcd.clientUrl.replace(/^http:\/\//, "")}?ttl=5m`, { logger: { warn() {} } });
    try {
      const gone = makeNode(ZONE);
      await writer.register(gone.entry, gone.identity);
      const watch = watching.watch({ zone: ZONE });
      const seen: RegistryChange[] = [];
      await nextMatching(watch, (c) => c.kind === "registered" && c.address === gone.address, 30_000, seen);
      const before = makeNode(ZONE);
      await writer.register(before.entry, before.identity);
      await nextMatching(watch, (c) => c.kind === "registered" && c.address === before.address, 30_000, seen);

      proxy.cut();
      const fresh = makeNode(ZONE);
      await writer.register(fresh.entry, fresh.identity);
      await writer.deregister(gone.address);
      const { header } = await admin.kv.range({ key: Buffer.from("/") });
      await admin.kv.compact({ revision: header.revision, physical: true });
      proxy.let();

      await nextMatching(watch, (c) => c.kind === "registered" && c.address === fresh.address, 60_000, seen);
      await nextMatching(watch, (c) => (c.kind === "deregistered" || c.kind === "expired") && c.address === gone.address, 30_000, seen);
      // And on: a registration after the restart is reported too.
      const after = makeNode(ZONE);
      await writer.register(after.entry, after.identity);
      await nextMatching(watch, (c) => c.kind === "registered" && c.address === after.address, 30_000, seen);
      expect(seen.filter((c) => c.kind === "tampered")).toEqual([]);
      // Said once when etcd's cancel is what sent the watch back to etcd's state. One CI run under
      // load bridged the gap without it (every change above still reported, nothing tampered), a
      // path not found since: what this test holds to is the changes, and at most one such line.
      expect(warns.filter((w) => /etcd cancelled the watch/.test(w)).length).toBeLessThanOrEqual(1);
      await watch.return?.();
    } finally {
      proxy.close();
      await Promise.all([watching.close(), writer.close()]);
    }
  }, 120_000);
});

describe("a watch of the two prefixes apart, stopped while it makes its watchers", () => {
  it("stopped while its first watcher waits for etcd, with its registry closed in an outage, leaves nothing running: the process exits by itself", async () => {
    // The second watcher is made once the first is confirmed, which the stop waits for: made
    // after the stop, it was never cancelled, and etcd3 retried it for ever once etcd was away.
    expect(await endOfStoppedWatch(new URL(etcd.clientUrl).port, "split", "node:node-pass")).toEqual({ code: 0, signal: null, output: "closed" });
  }, 90_000);
});
