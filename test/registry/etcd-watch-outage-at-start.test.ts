/**
 * An etcd registry watch that loses etcd while it is still starting: its snapshot read, or its
 * watcher asked for and not yet confirmed (etcd3 waits through the outage and creates it once
 * etcd is back). `onex registry watch` prints the snapshot before the watcher is confirmed, so a
 * supervisor's log showed the entries and then nothing through the outage, which its owner could
 * not tell from a quiet registry. The watch must say on its logger that it lost etcd and that it
 * has it back, as it does when an established watch loses it, and go on; stopped meanwhile, it
 * must leave nothing of itself running. Real etcd, reached through a proxy the test cuts; the
 * cut is made at the moment the watch asks etcd3 for its watcher, where the starting watch was
 * silent.
 */
import { WatchBuilder } from "etcd3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { RegistryChange } from "../../runtime/registry/registry.js";
import { cuttableProxy, type CuttableProxy } from "../support/cuttable-proxy.js";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { endOfStoppedWatch, eventually, makeNode, nextMatching } from "./fixtures.js";

const ZONE = "zone.trusted.org";
const LOST = /^onex registry: the watch lost its connection to etcd \(.+\); reconnecting, it resumes after the last change it read$/;
const BACK = /^onex registry: the watch is connected to etcd again; resuming$/;

let etcd: EtcdServer;
let proxy: CuttableProxy;
beforeAll(async () => {
  etcd = await startEtcdServer();
  proxy = await cuttableProxy(Number(new URL(etcd.clientUrl).port));
});
afterAll(async () => {
  proxy?.close();
  await etcd?.stop();
});

const makeWatcher = WatchBuilder.prototype.watcher;
afterEach(() => {
  WatchBuilder.prototype.watcher = makeWatcher;
  proxy.let();
});

/** Opens a registry through the proxy and one straight to etcd, a node registered; `cutAt` cuts the proxy once the watch is open (before its first read) or as it asks for its first watcher. */
async function watchThroughOutage(cutAt: "snapshot" | "watcher creation"): Promise<string[]> {
  const query = `?prefix=/outage-at-start-${cutAt.replace(" ", "-")}${process.pid}/&ttl=5m`;
  const warns: string[] = [];
  const watching = await openRegistry(`etcd://${proxy.host}${query}`, { logger: { warn: (m) => warns.push(m) } });
  const writer = await openRegistry(etcd.url + query, { logger: { warn() {} } });
  try {
    const before = makeNode(ZONE);
    await writer.register(before.entry, before.identity);
    if (cutAt === "snapshot") proxy.cut();
    else {
      WatchBuilder.prototype.watcher = function (this: WatchBuilder) {
        WatchBuilder.prototype.watcher = makeWatcher;
        proxy.cut();
        return makeWatcher.call(this);
      };
    }
    const watch = watching.watch({ zone: ZONE });
    const seen: RegistryChange[] = [];
    const first = nextMatching(watch, (c) => c.kind === "registered" && c.address === before.address, 60_000, seen);
    first.catch(() => undefined); // awaited below; not an unhandled rejection when a wait ahead of it fails
    await eventually(async () => warns.some((w) => LOST.test(w)), 30_000, "the warning that the watch lost etcd");
    proxy.let();
    await first;
    await eventually(async () => warns.some((w) => BACK.test(w)), 30_000, "the warning that the watch has etcd again");
    // The watcher etcd3 created once etcd was back streams what comes after.
    const after = makeNode(ZONE);
    await writer.register(after.entry, after.identity);
    await nextMatching(watch, (c) => c.kind === "registered" && c.address === after.address, 30_000, seen);
    await watch.return?.();
    return warns;
  } finally {
    await Promise.all([watching.close(), writer.close()]);
  }
}

describe("an etcd registry watch that loses etcd as it starts", () => {
  it.each(["snapshot", "watcher creation"] as const)("cut off at its %s, says once that it lost etcd and once that it is back, and reports the entries", async (cutAt) => {
    const warns = await watchThroughOutage(cutAt);
    expect(warns.filter((w) => LOST.test(w) || BACK.test(w))).toEqual([expect.stringMatching(LOST), expect.stringMatching(BACK)]);
  }, 120_000);

  it("stopped while its watcher waits for etcd, with its registry closed, leaves nothing running: the process exits by itself", async () => {
    // etcd3 retries a watcher waiting for its creation for ever, on timers that keep a process
    // alive, even once its client is closed: one the stopped watch left behind did so.
    expect(await endOfStoppedWatch(new URL(etcd.clientUrl).port, "pending")).toEqual({ code: 0, signal: null, output: "closed" });
  }, 90_000);
});
