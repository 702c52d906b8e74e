/**
 * etcd3 1.1.2's watch manager throws from its watch stream's data handler when an answer of etcd
 * matches no watcher it holds. That throw is inside gRPC's message delivery: it escaped as an
 * unhandled rejection (under Node's default, a crash of the watching process), and the client's
 * watch stream delivered nothing more, so every other watch of the client fell silent.
 *
 * etcd sends such answers in the ordinary course of things. When etcd cancels a watch (above all
 * one resumed at a revision it compacted away), etcd3 drops the watcher, and the registry stops
 * what is left of that watch: etcd3 sends a cancel for the dropped watcher too (its `cancel()`
 * cannot tell), and etcd answers it. While another watch keeps the client's stream open, that
 * answer arrives for an id no watcher holds (`test/registry/etcd-watch-cancel-answer.test.ts`).
 * A split watch's two watchers, cancelled by etcd together, race the same way.
 *
 * An answer for no watcher is news for no one: each client's watch manager drops it here. Only
 * the answer to such a cancel ends something: the cancel of the watcher etcd3 dropped waits for
 * it, and etcd3 kept that watcher (and all the watch's state its listeners hold) until the
 * client's watch stream was next made again, which on a healthy etcd is never.
 */
import type { Etcd3 } from "etcd3";

/** The parts of etcd3 1.1.2's (private) WatchManager and its answers that this relies on. */
interface WatchManagerInternals {
  watchers: { id: string | null }[];
  /** Watchers whose cancel was sent, each waiting for its answer ("end"). */
  expectedClosers: Set<{ id: string | null; emit(event: "end"): boolean }>;
  handleResponse(res: { watch_id: string; canceled: boolean }): void;
}

/** Makes `client`'s watch manager drop answers no watcher of it holds, rather than throw; returns `client`. */
export function dropAnswersForNoWatcher(client: Etcd3): Etcd3 {
  const manager = (client as unknown as { watchManager?: WatchManagerInternals }).watchManager;
  // Another etcd3 whose manager is not the one above: nothing here to guard (opening must not fail on it).
  if (typeof manager?.handleResponse !== "function" || !Array.isArray(manager.watchers) || !(manager.expectedClosers instanceof Set)) return client;
  const handleResponse = manager.handleResponse.bind(manager);
  // An event, or a cancel, of a watch id no watcher holds: one this client cancelled, or etcd did.
  manager.handleResponse = (res) => {
    if (manager.watchers.some((w) => w.id === res.watch_id)) return handleResponse(res);
    if (!res.canceled) return;
    // The answer a cancel of a watcher etcd had dropped waits for: it ends as etcd3 ends a cancelled one.
    for (const closer of manager.expectedClosers) {
      if (closer.id !== res.watch_id) continue;
      manager.expectedClosers.delete(closer);
      closer.emit("end");
    }
  };
  return client;
}
