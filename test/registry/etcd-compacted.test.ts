/**
 * An etcd registry watch cut off from etcd while its history is compacted past the last revision
 * it saw (etcd's ErrCompacted when it resumes): etcd cancels the resumed watch, and the changes
 * of the gap can no longer be read from the history. The watch must start again from etcd's
 * state and report what changed, or end with a typed error; not stop without a word.
 */
import { getEventListeners } from "node:events";
import { Etcd3, Range } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { openEtcdStore } from "../../runtime/registry/etcd.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { RegistryChange } from "../../runtime/registry/registry.js";
import { cuttableProxy } from "../support/cuttable-proxy.js";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { eventually, makeNode, nextMatching } from "./fixtures.js";

const ZONE = "zone.trusted.org";
let etcd: EtcdServer;
beforeAll(async () => {
  etcd = await startEtcdServer();
});
afterAll(async () => {
  await etcd?.stop();
});

describe("an etcd registry watch resumed past a compaction", () => {
  it("reads etcd's state again and reports what changed in the gap", async () => {
    const proxy = await cuttableProxy(Number(new URL(etcd.clientUrl).port));
    const query = `?prefix=/compacted${process.pid}/&ttl=5m`;
    const warns: string[] = [];
    const watching = await openRegistry(`etcd://${proxy.host}${query}`, { logger: { warn: (m) => warns.push(m) } });
    const writer = await openRegistry(etcd.url + query, { logger: { warn() {} } });
    const etcdClient = new Etcd3({ hosts: etcd.clientUrl });
    try {
      const gone = makeNode(ZONE);
      await writer.register(gone.entry, gone.identity);
      const watch = watching.watch({ zone: ZONE });
      const seen: RegistryChange[] = [];
      await nextMatching(watch, (c) => c.kind === "registered" && c.address === gone.address, 30_000, seen);

      proxy.cut();
      const fresh = makeNode(ZONE);
      await writer.register(fresh.entry, fresh.identity);
      await writer.deregister(gone.address);
      const { header } = await etcdClient.kv.range({ key: Buffer.from("/") });
      await etcdClient.kv.compact({ revision: header.revision, physical: true });
      proxy.let();

      await nextMatching(watch, (c) => c.kind === "registered" && c.address === fresh.address, 60_000, seen);
      await nextMatching(watch, (c) => (c.kind === "deregistered" || c.kind === "expired") && c.address === gone.address, 30_000, seen);
      expect(warns.filter((w) => /etcd cancelled the watch/.test(w))).toHaveLength(1);
      await watch.return?.();
    } finally {
      etcdClient.close();
      proxy.close();
      await Promise.all([watching.close(), writer.close()]);
    }
  }, 120_000);
});

describe("an etcd store watch started over after compactions", () => {
  it("holds one abort listener of its own however often it starts over", async () => {
    const proxy = await cuttableProxy(Number(new URL(etcd.clientUrl).port));
    const prefix = `/restarts${process.pid}/`;
    const warns: string[] = [];
    const store = await openEtcdStore({ hosts: [`http://${proxy.host}`], prefix, ttlMs: 300_000, logger: { warn: (m) => warns.push(m) } });
    const writer = await openRegistry(`${etcd.url}?prefix=${prefix}&ttl=5m`, { logger: { warn() {} } });
    const etcdClient = new Etcd3({ hosts: etcd.clientUrl });
    const controller = new AbortController();
    try {
      const changes = store.watch({}, controller.signal)[Symbol.asyncIterator]();
      // Registers a fresh node and waits for the store's watch to hand over its entry.
      const registerAndSee = async (before?: () => Promise<void>) => {
        const node = makeNode(ZONE);
        await writer.register(node.entry, node.identity);
        await before?.();
        await nextMatching(changes, (c) => c.op === "put" && c.stored.key.id === node.identity.node_id, 60_000);
      };
      // Twice: the second comes through the etcd watch, so the first start has made it and listens.
      await registerAndSee();
      await registerAndSee();
      const listening = getEventListeners(controller.signal, "abort").length;
      for (let round = 1; round <= 3; round++) {
        proxy.cut();
        await registerAndSee(async () => {
          // One write more, so that the revision the watch resumes from is compacted away.
          const { header } = await etcdClient.put(`/elsewhere${process.pid}`).value(String(round)).exec();
          await etcdClient.kv.compact({ revision: header.revision, physical: true });
          proxy.let();
        });
        expect(warns.filter((w) => /etcd cancelled the watch/.test(w))).toHaveLength(round);
        // Each start made anew stopped the one before, and its listener went with it: the new start
        // holds one from its snapshot on, so the signal holds as many as before.
        await eventually(async () => getEventListeners(controller.signal, "abort").length === listening, 30_000, `${listening} abort listeners after start ${round + 1}`);
        // A change after the new start's snapshot comes only through its watcher: once it is seen,
        // etcd has confirmed that watcher, and the next cut finds a watch to resume.
        await registerAndSee();
      }
    } finally {
      controller.abort();
      etcdClient.close();
      proxy.close();
      await Promise.all([store.close(), writer.close()]);
    }
  }, 180_000);
});

describe("an etcd registry watch whose permission is revoked while it is cut off", () => {
  it("ends with a typed error when etcd refuses it on resuming, not reading again every 250 ms for ever", async () => {
    const secured = await startEtcdServer();
    const proxy = await cuttableProxy(Number(new URL(secured.clientUrl).port));
    const admin = new Etcd3({ hosts: secured.clientUrl, auth: { username: "root", password: "root-pass" } });
    const prefix = `/revoked${process.pid}/`;
    try {
      const plain = new Etcd3({ hosts: secured.clientUrl });
      await plain.user("root").create("root-pass");
      await plain.user("root").addRole("root");
      await plain.role("reader").create();
      await plain.role("reader").grant({ permission: "Readwrite", range: Range.prefix("/") });
      await plain.user("watcher").create("watcher-pass");
      await plain.user("watcher").addRole("reader");
      await plain.auth.authEnable();
      plain.close();
      const watching = await openRegistry(`etcd://watcher:watcher-pass@${proxy.host}?prefix=${prefix}&ttl=5m`, { logger: { warn() {} } });
      const writer = await openRegistry(`etcd://root:root-pass@${secured.clientUrl.replace(/^[a-z]+:\/\//, "")}?prefix=${prefix}&ttl=5m`, { logger: { warn() {} } });
      try {
        const node = makeNode(ZONE);
        await writer.register(node.entry, node.identity);
        const watch = watching.watch({ zone: ZONE });
        await nextMatching(watch, (c) => c.kind === "registered" && c.address === node.address, 30_000);
        proxy.cut();
        await admin.role("reader").revoke({ permission: "Readwrite", range: Range.prefix("/") });
        proxy.let();
        const ended = await nextMatching(watch, () => false, 60_000).then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(ended).toBeInstanceOf(OnexError);
        expect((ended as OnexError).code).toBe(ErrorCode.RegistryUnavailable);
        expect((ended as OnexError).message).toMatch(/permission denied/i);
      } finally {
        await Promise.all([watching.close(), writer.close()]);
      }
    } finally {
      admin.close();
      proxy.close();
      await secured.stop();
    }
  }, 120_000);
});
