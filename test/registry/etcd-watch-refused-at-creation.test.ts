/**
 * etcd3 1.1.2 creates a client's watches one after another, and never takes off its queue a watch
 * etcd refuses as it is created (an answer both "created" and "canceled"): every watch of that
 * client waiting behind it, and every one created later, waits for good, reporting nothing and no
 * error. The registry reads each range before it creates a watch of it, so that a refusal comes
 * from the read instead; but etcd3 creates every watch again by itself after a reconnect, without
 * that read. Reachable so: two watches on one registry, the connection cut, the role's grant
 * revoked meanwhile. The first watch made again is refused (and ended with the refusal); before,
 * the second stayed silent for good, and so did every watch the registry made afterwards (its first
 * state came from a read, but no change after it). Real etcd with authentication on, reached
 * through a proxy the test cuts.
 */
import { Etcd3, Range } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { Registry, RegistryChange } from "../../runtime/registry/registry.js";
import { cuttableProxy, type CuttableProxy } from "../support/cuttable-proxy.js";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { makeNode, nextMatching } from "./fixtures.js";

let etcd: EtcdServer;
let proxy: CuttableProxy;
let admin: Etcd3;

beforeAll(async () => {
  etcd = await startEtcdServer();
  proxy = await cuttableProxy(Number(new URL(etcd.clientUrl).port));
  const plain = new Etcd3({ hosts: etcd.clientUrl });
  await plain.user("root").create("root-pass");
  await plain.user("root").addRole("root");
  await plain.role("reader").create();
  await plain.role("reader").grant({ permission: "Readwrite", range: Range.prefix("/") });
  await plain.user("watcher").create("watcher-pass");
  await plain.user("watcher").addRole("reader");
  await plain.auth.authEnable();
  plain.close();
  admin = new Etcd3({ hosts: etcd.clientUrl, auth: { username: "root", password: "root-pass" } });
});
afterAll(async () => {
  admin?.close();
  proxy?.close();
  await etcd?.stop();
});

/** A watch pulled all the while (a watch tells `onSynced` as it is pulled): its changes, when its etcd watch is made, and what it ends with. */
function follow(registry: Registry, zone: string): { seen: RegistryChange[]; made: Promise<void>; ended: Promise<unknown> } {
  const seen: RegistryChange[] = [];
  let synced!: () => void;
  const made = new Promise<void>((resolve) => (synced = resolve));
  const watch = registry.watch({ zone }, { onSynced: () => synced() });
  const ended = (async () => {
    try {
      for await (const change of watch) seen.push(change);
      return "done";
    } catch (error) {
      return error;
    }
  })();
  return { seen, made, ended };
}

/** What `ended` settles with, or "silent" when the watch neither reports nor ends within the deadline. */
function within(ended: Promise<unknown>, ms = 30_000): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const silent = new Promise((resolve) => (timer = setTimeout(() => resolve("silent"), ms)));
  return Promise.race([ended, silent]).finally(() => clearTimeout(timer));
}

describe("an etcd watch refused as etcd3 creates it again after a reconnect", () => {
  it("the registry's other watches are not left silent, and its later watches report changes", async () => {
    const lines: string[] = [];
    const watching: Registry = await openRegistry(`etcd://watcher:watcher-pass@${proxy.host}?ttl=5m`, { logger: { warn: (message) => void lines.push(message) } });
    const writer: Registry = await openRegistry(`etcd://root:root-pass@${etcd.clientUrl.replace(/^[a-z]+:\/\//, "")}?ttl=5m`, { logger: { warn() {} } });
    try {
      const [a, b] = [makeNode("zone.a.org"), makeNode("zone.b.org")];
      await writer.register(a.entry, a.identity);
      await writer.register(b.entry, b.identity);
      // Each watch's etcd watch made (`onSynced`), not only its first state read, before the cut.
      const [watchA, watchB] = [follow(watching, "zone.a.org"), follow(watching, "zone.b.org")];
      await Promise.all([watchA.made, watchB.made]);
      expect(watchA.seen.map((c) => c.kind === "registered" && c.address)).toEqual([a.address]);
      expect(watchB.seen.map((c) => c.kind === "registered" && c.address)).toEqual([b.address]);

      proxy.cut();
      await admin.role("reader").revoke({ permission: "Readwrite", range: Range.prefix("/") });
      proxy.let();
      // Both refused, each with the typed refusal: the first as etcd3 made it again, the second as it
      // started again on a new client (before, it reported nothing more, and no error).
      for (const ended of await Promise.all([within(watchA.ended), within(watchB.ended)])) {
        expect(ended).toBeInstanceOf(OnexError);
        expect((ended as OnexError).code).toBe(ErrorCode.RegistryUnavailable);
        expect((ended as OnexError).details.permission).toBe("read");
      }
      expect(lines.some((l) => /refused a watch as it was created/.test(l))).toBe(true);

      // The grant given back: a watch made now reports a registration made after its first state.
      await admin.role("reader").grant({ permission: "Readwrite", range: Range.prefix("/") });
      let synced!: () => void;
      const firstState = new Promise<void>((resolve) => (synced = resolve));
      const later = watching.watch({ zone: "zone.a.org" }, { onSynced: () => synced() });
      const a2 = makeNode("zone.a.org");
      const pulling = nextMatching(later, (c) => c.kind === "registered" && c.address === a2.address, 30_000);
      await firstState;
      await writer.register(a2.entry, a2.identity);
      expect((await pulling).kind).toBe("registered");
      await later.return?.();
    } finally {
      await Promise.all([watching.close(), writer.close()]);
    }
  }, 120_000);
});
