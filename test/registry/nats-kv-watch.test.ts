/**
 * The NATS KV watch (runtime/registry/nats-kv-watch.ts) against a real nats-server: it gives
 * up on its consumer when a delivery is lost, even the last one with nothing written after
 * it (the heartbeat names it); it counts itself caught up on an idle heartbeat when its
 * consumer delivers fewer messages than it counted; it is not caught up before every key it
 * began with has been delivered (or aged out), though the server gives a key rewritten before
 * its turn a duplicate instead, and is interrupted when it cannot learn which keys are left;
 * it does not take a busy event loop for a silent server; and a store that closes, or a watch
 * aborted at once, leaves no consumer on the server.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openNatsKvStore } from "../../runtime/registry/nats-kv.js";
import { watchKv, WatchInterrupted, type WatchedRecord } from "../../runtime/registry/nats-kv-watch.js";
import { startNatsProxy } from "../support/nats-proxy.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { TrustedRegistry } from "../../runtime/registry/trusted-registry.js";
import type { StoreChange } from "../../runtime/registry/registry.js";
import { eventually, makeNode } from "./fixtures.js";

let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

async function bucket(name: string): Promise<KV> {
  return new Kvm(jetstream(nc)).create(name, { history: 1 });
}

async function consumersOf(bucketName: string): Promise<string[]> {
  return (await jsm.consumers.list(`KV_${bucketName}`).next()).map((c) => c.name);
}

/** Runs a watch in the background, recording what it delivers and how it ended. */
function follow(watch: AsyncGenerator<WatchedRecord>) {
  const seen: string[] = [];
  let ended: "done" | Error | undefined;
  const done = (async () => {
    try {
      for await (const record of watch) seen.push(`${record.key}=${record.string()}`);
      ended = "done";
    } catch (error) {
      ended = error as Error;
    }
  })();
  return { seen, done, ended: () => ended };
}

describe("the NATS KV watch", () => {
  it("gives up on its consumer when the last delivery is lost and nothing is written after it", async () => {
    const kv = await bucket("lossy");
    await kv.put("z.node.a", "1");
    const proxy = await startNatsProxy(server.port);
    const watcher = await connect({ servers: proxy.url, reconnectTimeWait: 50, maxReconnectAttempts: -1 });
    const abort = new AbortController();
    try {
      const watch = follow(watchKv(watcher, await jetstreamManager(watcher), "lossy", { filter: "*.*.*", heartbeatMs: 1_000, signal: abort.signal, get: (k) => kv.get(k) }));
      await eventually(async () => watch.seen.includes("z.node.a=1"), 10_000, "the first value");
      // The delivery of b is lost with the connection, which comes back before a heartbeat is missed.
      proxy.dropNextWith("$KV.lossy.z.node.b");
      await kv.put("z.node.b", "2");
      await eventually(async () => watch.ended() !== undefined, 20_000, "the watch to give up");
      expect(watch.ended()).toBeInstanceOf(WatchInterrupted);
      expect(watch.seen).toEqual(["z.node.a=1"]);
    } finally {
      abort.abort();
      await watcher.close();
      proxy.close();
    }
  }, 40_000);

  it("counts itself caught up on the server's idle heartbeat when fewer messages are left to deliver than its consumer counted", async () => {
    const kv = await bucket("short");
    await kv.put("z.node.a", "1");
    const proxy = await startNatsProxy(server.port);
    const watcher = await connect({ servers: proxy.url });
    const abort = new AbortController();
    let caughtUp = 0;
    // The consumer's creation answer counts a second message that never comes, as when max age
    // removes one between the consumer's creation and its turn.
    const rewrite = proxy.rewriteNext('"num_pending":1,', '"num_pending":2,');
    const watch = follow(watchKv(watcher, await jetstreamManager(watcher), "short", { filter: "*.*.*", heartbeatMs: 250, signal: abort.signal, onCaughtUp: () => caughtUp++, get: (k) => kv.get(k) }));
    try {
      await eventually(async () => watch.seen.includes("z.node.a=1"), 10_000, "the first value");
      expect(rewrite.done()).toBe(true);
      await eventually(async () => caughtUp > 0, 10_000, "the watch to count itself caught up");
      await kv.put("z.node.b", "2");
      await eventually(async () => watch.seen.includes("z.node.b=2"), 10_000, "the second value");
      expect(caughtUp).toBe(1);
      expect(watch.ended()).toBeUndefined();
    } finally {
      abort.abort();
      await watch.done;
      await watcher.close();
      proxy.close();
    }
  }, 30_000);

  // nats-server delivers a first state from the sequences of each key's last value, taken as the
  // consumer is made; a key rewritten before its turn gives its turn to the next message on.
  // The server is made to wait at its turn: it sends a 2 MiB flow-control window of large values
  // and no more until the client answers, and the proxy holds everything until the rewrite.
  const LARGE = "x".repeat(256 * 1024);
  const keyOf = (i: number) => `z.node.k${String(i).padStart(2, "0")}`;

  /** A watch of `name` through a held proxy, with the server stalled part-way through the first state. */
  async function stalledWatch(name: string, kv: KV, get: (key: string) => Promise<unknown> = (k) => kv.get(k)) {
    for (let i = 0; i < 20; i++) await kv.put(keyOf(i), `${i}:${LARGE}`);
    const proxy = await startNatsProxy(server.port);
    const watcher = await connect({ servers: proxy.url });
    const abort = new AbortController();
    const seenAtCaughtUp: string[][] = [];
    const watcherJsm = await jetstreamManager(watcher, { timeout: 30_000 });
    proxy.hold();
    const watch = follow(watchKv(watcher, watcherJsm, name, { filter: "*.*.*", heartbeatMs: 1_000, signal: abort.signal, onCaughtUp: () => seenAtCaughtUp.push([...watch.seen]), get }));
    await eventually(async () => (await consumersOf(name)).length === 1, 10_000, "the watch's consumer");
    const [consumer] = await consumersOf(name);
    // Stalled: what it has sent stops growing, short of every key.
    let sent = -1;
    await eventually(
      async () => {
        const now = (await jsm.consumers.info(`KV_${name}`, consumer!)).delivered.consumer_seq;
        const still = now > 0 && now === sent;
        sent = now;
        if (!still) await new Promise((resolve) => setTimeout(resolve, 250));
        return still;
      },
      10_000,
      "the server to wait for flow control",
    );
    expect(sent).toBeLessThan(15);
    const end = async () => {
      abort.abort();
      await watch.done;
      await watcher.close();
      proxy.close();
    };
    return { proxy, watch, seenAtCaughtUp, end };
  }

  const keysIn = (seen: string[]) => [...new Set(seen.map((s) => s.slice(0, s.indexOf("="))))].sort();

  it("counts itself caught up only once every key has been delivered, when one rewritten before its turn gave that turn to another", async () => {
    const kv = await bucket("turns");
    const { proxy, seenAtCaughtUp, end } = await stalledWatch("turns", kv);
    try {
      // k18's turn goes to k19, delivered twice: the count is reached with k18's new value still to come.
      await kv.put(keyOf(18), "18:new");
      proxy.release();
      await eventually(async () => seenAtCaughtUp.length > 0, 20_000, "the watch to count itself caught up");
      expect(keysIn(seenAtCaughtUp[0]!)).toEqual(Array.from({ length: 20 }, (_, i) => keyOf(i)));
      expect(seenAtCaughtUp[0]).toContain(`${keyOf(18)}=18:new`);
    } finally {
      await end();
    }
  }, 60_000);

  async function agingBucket(name: string) {
    return new Kvm(jetstream(nc)).create(name, { history: 1, ttl: 2_000 });
  }

  /** Writes every key but k18 again and again, so no idle heartbeat comes; returns a stop. */
  function keepWriting(kv: KV): () => Promise<void> {
    let writing = true;
    const writes = (async () => {
      while (writing) {
        for (let i = 0; i < 20; i++) if (i !== 18) await kv.put(keyOf(i), `${i}:again`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    return async () => {
      writing = false;
      await writes;
    };
  }

  const gone = (bucketName: string, key: string) => async () => (await jsm.streams.getMessage(`KV_${bucketName}`, { last_by_subj: `$KV.${bucketName}.${key}` })) === null;

  it("does not wait for a key that max age removed before its turn, while writes keep coming", async () => {
    const kv = await agingBucket("aging");
    const { proxy, seenAtCaughtUp, end } = await stalledWatch("aging", kv);
    const stop = keepWriting(kv);
    try {
      await eventually(gone("aging", keyOf(18)), 20_000, "k18 to age out");
      proxy.release();
      await eventually(async () => seenAtCaughtUp.length > 0, 20_000, "the watch to count itself caught up");
      expect(keysIn(seenAtCaughtUp[0]!)).toEqual(Array.from({ length: 20 }, (_, i) => keyOf(i)).filter((k) => k !== keyOf(18)));
    } finally {
      await stop();
      await end();
    }
  }, 60_000);

  it("is interrupted, not left waiting, when the server cannot say whether a key it has not delivered is left", async () => {
    const kv = await agingBucket("unanswered");
    const { proxy, watch, seenAtCaughtUp, end } = await stalledWatch("unanswered", kv, () => Promise.reject(new Error("no answer")));
    const stop = keepWriting(kv);
    try {
      await eventually(gone("unanswered", keyOf(18)), 20_000, "k18 to age out");
      proxy.release();
      await eventually(async () => watch.ended() !== undefined, 20_000, "the watch to end");
      expect(watch.ended()).toBeInstanceOf(WatchInterrupted);
      expect(seenAtCaughtUp).toEqual([]);
    } finally {
      await stop();
      await end();
    }
  }, 60_000);

  it("does not take an event loop busy for several heartbeats for a silent server", async () => {
    const kv = await bucket("busy");
    await kv.put("z.node.a", "1");
    const abort = new AbortController();
    const watch = follow(watchKv(nc, jsm, "busy", { filter: "*.*.*", heartbeatMs: 250, signal: abort.signal, get: (k) => kv.get(k) }));
    try {
      await eventually(async () => watch.seen.includes("z.node.a=1"), 10_000, "the first value");
      const [consumer] = await consumersOf("busy");
      // Busy for four heartbeats, while the server keeps sending them.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1_000);
      await kv.put("z.node.b", "2");
      await eventually(async () => watch.seen.includes("z.node.b=2"), 10_000, "the second value");
      expect(watch.ended()).toBeUndefined();
      expect(await consumersOf("busy")).toEqual([consumer]);
    } finally {
      abort.abort();
      await watch.done;
    }
    expect(watch.ended()).toBe("done");
  }, 30_000);

  it("leaves no consumer behind when its store closes, or when it is aborted as it starts", async () => {
    const store = await openNatsKvStore({ servers: [server.url], bucket: "closing", ttlMs: 5_000 });
    const running = store.watch({}, new AbortController().signal)[Symbol.asyncIterator]();
    const first = running.next();
    await eventually(async () => (await consumersOf("closing")).length === 1, 10_000, "the watch's consumer");
    await store.close();
    await first;
    expect(await consumersOf("closing")).toEqual([]);

    const again = await openNatsKvStore({ servers: [server.url], bucket: "closing", ttlMs: 5_000 });
    const abort = new AbortController();
    const aborted = again.watch({}, abort.signal)[Symbol.asyncIterator]();
    abort.abort();
    expect((await aborted.next()).done).toBe(true);
    await again.close();
    expect(await consumersOf("closing")).toEqual([]);
  }, 30_000);

  it("folds heartbeats a reader has not pulled yet into the one before: a reader that is behind gathers one per node, not one per heartbeat", async () => {
    const store = await openNatsKvStore({ servers: [server.url], bucket: "behind", ttlMs: 30_000 });
    const registry = new TrustedRegistry(store);
    const nodes = Array.from({ length: 10 }, () => makeNode());
    for (const node of nodes) await registry.register(node.entry, node.identity);
    const abort = new AbortController();
    const changes = store.watch({}, abort.signal)[Symbol.asyncIterator]();
    while ((await changes.next()).value?.op !== "synced");
    // The reader stalls while every node heart-beats 30 times (a health watcher waiting on a publish).
    for (let round = 0; round < 30; round++) await Promise.all(nodes.map((node) => registry.heartbeat(node.address)));
    const latest = new Map<string, string>();
    for (const node of nodes) latest.set(node.address, (await store.get({ zone: node.entry.zone, entityType: "node", id: node.identity.node_id }))!.revision);
    // Every heartbeat delivered by now, then what waits is read.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const queued: StoreChange[] = [];
    for (;;) {
      const next = await Promise.race([changes.next(), new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 300))]);
      if (next === undefined || next.done) break;
      queued.push(next.value);
    }
    // 300 heartbeats before; one each now (two when one was pulled as the stall began), at each node's last revision.
    expect(queued.length).toBeLessThanOrEqual(2 * nodes.length);
    const last = new Map(queued.flatMap((c) => (c.op === "put" ? [[`onex://${c.stored.key.zone}/node/${c.stored.key.id}`, c.stored.revision] as const] : [])));
    expect(last).toEqual(latest);
    abort.abort();
    await registry.close();
  }, 60_000);
});
