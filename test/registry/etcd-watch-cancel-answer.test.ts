/**
 * Two registry watches on one etcd client (one registry, two zones), cut off from etcd while its
 * history is compacted past what one of them saw, not the other. On resuming, etcd cancels the
 * one (ErrCompacted) and the adapter starts it over; the other keeps the client's watch stream
 * open. etcd3 1.1.2 throws from its stream's data handler for an answer no watcher holds the id
 * of, such as etcd's answer to a cancel of a watcher etcd itself had cancelled: the throw escaped
 * as an unhandled rejection, which Node's default turns into a crash of the watching process.
 * That answer is also the one the cancel waits for: etcd3 held the dropped watcher, and the whole
 * state of the watch its listeners hold, until the client's watch stream was made again.
 */
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openRegistry, openStore, parseRegistryUrl } from "../../runtime/registry/open-registry.js";
import type { RegistryChange } from "../../runtime/registry/registry.js";
import { TrustedRegistry } from "../../runtime/registry/trusted-registry.js";
import { cuttableProxy } from "../support/cuttable-proxy.js";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { eventually, makeNode, nextMatching } from "./fixtures.js";

const ZONE_A = "zone-a.trusted.org";
const ZONE_B = "zone-b.trusted.org";
let etcd: EtcdServer;
beforeAll(async () => {
  etcd = await startEtcdServer();
});
afterAll(async () => {
  await etcd?.stop();
});

describe("etcd registry watches sharing a client, one resumed past a compaction", () => {
  it("let nothing escape as an unhandled rejection, and both go on reporting", async () => {
    const escaped: unknown[] = [];
    const record = (error: unknown) => void escaped.push(error);
    process.on("unhandledRejection", record);
    process.on("uncaughtException", record);
    const proxy = await cuttableProxy(Number(new URL(etcd.clientUrl).port));
    const query = `?prefix=/cancel-answer${process.pid}/&ttl=5m`;
    const warns: string[] = [];
    const logger = { warn: (m: string) => void warns.push(m) };
    const store = (await openStore(parseRegistryUrl(`etcd://${proxy.host}${query}`), logger)) as Awaited<ReturnType<typeof openStore>> & { client: Etcd3 };
    const watching = new TrustedRegistry(store, { logger });
    // etcd3 1.1.2's (private) set of watchers whose cancel waits for etcd's answer.
    const waitingCancels = (store.client as unknown as { watchManager: { expectedClosers: Set<unknown> } }).watchManager.expectedClosers;
    const writer = await openRegistry(etcd.url + query, { logger: { warn() {} } });
    const etcdClient = new Etcd3({ hosts: etcd.clientUrl });
    try {
      const watchA = watching.watch({ zone: ZONE_A });
      const watchB = watching.watch({ zone: ZONE_B });
      const seenA: RegistryChange[] = [];
      const seenB: RegistryChange[] = [];
      const a = makeNode(ZONE_A);
      await writer.register(a.entry, a.identity);
      await nextMatching(watchA, (c) => c.kind === "registered" && c.address === a.address, 30_000, seenA);
      // Zone B's watch sees a later revision than zone A's: compacted at it, only A's resumes too far
      // back. (A watch's one range runs from its zone's marks to its entries, and covers zone B's
      // marks; a deregistration writes no mark. etcd keeps the revision compacted at, so two.)
      const bs = [makeNode(ZONE_B), makeNode(ZONE_B)];
      for (const b of bs) {
        await writer.register(b.entry, b.identity);
        await nextMatching(watchB, (c) => c.kind === "registered" && c.address === b.address, 30_000, seenB);
      }
      for (const b of bs) {
        await writer.deregister(b.address);
        await nextMatching(watchB, (c) => c.kind === "deregistered" && c.address === b.address, 30_000, seenB);
      }

      proxy.cut();
      const { header } = await etcdClient.kv.range({ key: Buffer.from("/") });
      await etcdClient.kv.compact({ revision: header.revision, physical: true });
      const fresh = makeNode(ZONE_A);
      await writer.register(fresh.entry, fresh.identity);
      proxy.let();

      await nextMatching(watchA, (c) => c.kind === "registered" && c.address === fresh.address, 60_000, seenA);
      // Both go on: a registration in each zone after the restart is reported by its watch.
      const laterB = makeNode(ZONE_B);
      await writer.register(laterB.entry, laterB.identity);
      await nextMatching(watchB, (c) => c.kind === "registered" && c.address === laterB.address, 30_000, seenB);
      const laterA = makeNode(ZONE_A);
      await writer.register(laterA.entry, laterA.identity);
      await nextMatching(watchA, (c) => c.kind === "registered" && c.address === laterA.address, 30_000, seenA);
      expect(warns.filter((w) => /etcd cancelled the watch/.test(w))).toHaveLength(1);
      expect(escaped.map((e) => String(e))).toEqual([]);
      await eventually(async () => waitingCancels.size === 0, 15_000, "no cancel left waiting for etcd's answer");
      await watchA.return?.();
      await watchB.return?.();
    } finally {
      process.off("unhandledRejection", record);
      process.off("uncaughtException", record);
      etcdClient.close();
      proxy.close();
      await Promise.all([watching.close(), writer.close()]);
    }
  }, 120_000);
});
