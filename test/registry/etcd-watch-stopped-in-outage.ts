/**
 * Run by etcd-watch-outage-at-start.test.ts in a process of its own, given etcd's client port: a
 * registry watch whose watcher is still waiting for etcd's confirmation when etcd goes away, and
 * which is then stopped and its registry closed while etcd is still away. Prints "closed"; the
 * process must then exit by itself, as a service that closed its registry does.
 */
import { WatchBuilder } from "etcd3";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import { cuttableProxy } from "../support/cuttable-proxy.js";

const proxy = await cuttableProxy(Number(process.argv[2]));
const makeWatcher = WatchBuilder.prototype.watcher;
WatchBuilder.prototype.watcher = function (this: WatchBuilder) {
  WatchBuilder.prototype.watcher = makeWatcher;
  proxy.cut();
  return makeWatcher.call(this);
};
let lost!: () => void;
const etcdLost = new Promise<void>((resolve) => (lost = resolve));
const registry = await openRegistry(`etcd://${proxy.host}?prefix=/stopped-in-outage${process.pid}/&ttl=5m`, {
  logger: { warn: (message) => void (/the watch lost its connection to etcd/.test(message) && lost()) },
});
const watch = registry.watch({});
await etcdLost;
await watch.return?.();
await registry.close();
proxy.close();
console.log("closed");
