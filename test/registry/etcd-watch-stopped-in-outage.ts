/**
 * Run by etcd registry tests in a process of its own: a registry watch stopped while it is
 * still making its watchers, then its registry closed while etcd is away. Prints "closed"; the
 * process must then exit by itself, as a service that closed its registry does.
 *
 *   etcd-watch-stopped-in-outage.ts PORT pending
 *     etcd goes away as the watch asks for its watcher, and the watch is stopped while that
 *     watcher waits for etcd's confirmation;
 *   etcd-watch-stopped-in-outage.ts PORT split USER:PASS
 *     a role granted the registry's two prefixes alone (watched apart): the watch is stopped
 *     while its first watcher waits for etcd (etcd there), and etcd goes away as the second is
 *     asked for.
 */
import { WatchBuilder } from "etcd3";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import { cuttableProxy } from "../support/cuttable-proxy.js";

const [port, mode, credentials] = process.argv.slice(2);
const proxy = await cuttableProxy(Number(port));
let lost!: () => void;
const etcdLost = new Promise<void>((resolve) => (lost = resolve));
const registry = await openRegistry(`etcd://${credentials === undefined ? "" : `${credentials}@`}${proxy.host}?ttl=5m`, {
  logger: { warn: (message) => void (/the watch lost its connection to etcd/.test(message) && lost()) },
});
const makeWatcher = WatchBuilder.prototype.watcher;
let made = 0;
let lastMade!: () => void;
const allMade = new Promise<void>((resolve) => (lastMade = resolve));
WatchBuilder.prototype.watcher = function (this: WatchBuilder) {
  made++;
  if (mode === "split" && made === 1) {
    setImmediate(() => void watch.return?.());
    return makeWatcher.call(this);
  }
  proxy.cut();
  lastMade();
  return makeWatcher.call(this);
};
const watch = registry.watch({});
await allMade;
// Stopped while the watcher waits through the outage (pending); already stopped as the second was made (split).
if (mode === "pending") await etcdLost;
await watch.return?.();
await registry.close();
proxy.close();
console.log("closed");
