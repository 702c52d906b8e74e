/**
 * Registry benchmark (`npm run bench:registry`): register and resolve operations per second
 * and watch latency of the NATS KV and etcd adapters, against the raw clients doing the same
 * store calls in the same run, with the ratios; and the time from a node's last heartbeat
 * to its expiry being reported. Starts its own nats-server and etcd. Never fails on timing.
 */
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { Etcd3 } from "etcd3";
import { openRegistry, openStore, parseRegistryUrl } from "../runtime/registry/open-registry.js";
import type { Registry } from "../runtime/registry/registry.js";
import { makeNode, type TestNode } from "../test/registry/fixtures.js";
import { startEtcdServer } from "../test/support/etcd-server.js";
import { startNatsServer } from "../test/support/nats-server.js";

const OPS = Number(process.env.BENCH_OPS ?? 400);
const WATCH_SAMPLES = Number(process.env.BENCH_WATCH ?? 50);

interface RawClient {
  put(i: number, value: string): Promise<void>;
  get(i: number): Promise<void>;
  watchLatency(samples: number): Promise<number[]>;
  close(): Promise<void>;
}

async function rate(n: number, fn: (i: number) => Promise<void>): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  return (n / (performance.now() - start)) * 1_000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** From one store write to the registry's verified watch event: the same write the raw sample times. */
async function registryWatchLatency(registry: Registry, url: string, nodes: TestNode[]): Promise<number[]> {
  const store = await openStore(parseRegistryUrl(url));
  const changes = registry.watch({}, { updatesOnly: true });
  const samples: number[] = [];
  for (const node of nodes) {
    const value = JSON.stringify({ format: 1, entry: node.entry, identity: node.identity });
    // The high-water mark register would have written first, so the watch verifies a fresh entry, not a replay.
    await store.putMark({ zone: node.identity.zone, entityType: "node", id: node.identity.node_id }, value, "");
    const start = performance.now();
    const next = changes.next();
    await store.put({ zone: node.identity.zone, entityType: "node", id: node.identity.node_id }, value);
    await next;
    samples.push(performance.now() - start);
  }
  await changes.return!();
  await store.close();
  return samples;
}

async function detectionTime(registry: Registry): Promise<number> {
  const node = makeNode();
  await registry.register(node.entry, node.identity);
  const changes = registry.watch({}, { updatesOnly: true });
  await registry.heartbeat(node.address);
  const lastBeat = performance.now();
  for await (const change of changes) if (change.kind === "expired" && change.address === node.address) break;
  await changes.return!();
  return performance.now() - lastBeat;
}

async function benchAdapter(name: string, url: (ns: string, ttl: string) => string, raw: RawClient): Promise<void> {
  const registry = await openRegistry(url("bench", "60s"));
  const nodes = Array.from({ length: OPS }, () => makeNode());
  const payloads = nodes.map((n) => JSON.stringify({ format: 1, entry: n.entry, identity: n.identity }));

  const regOps = await rate(OPS, (i) => registry.register(nodes[i]!.entry, nodes[i]!.identity).then(() => undefined));
  const rawPutOps = await rate(OPS, (i) => raw.put(i, payloads[i]!));
  const resOps = await rate(OPS, (i) => registry.resolve(nodes[i]!.address).then(() => undefined));
  const rawGetOps = await rate(OPS, (i) => raw.get(i));
  const watchNodes = Array.from({ length: WATCH_SAMPLES }, () => makeNode());
  const watchMs = median(await registryWatchLatency(registry, url("bench", "60s"), watchNodes));
  const rawWatchMs = median(await raw.watchLatency(WATCH_SAMPLES));
  await registry.close();

  const ttlRegistry = await openRegistry(url("detect", "2s"));
  const detections: number[] = [];
  for (let i = 0; i < 3; i++) detections.push(await detectionTime(ttlRegistry));
  await ttlRegistry.close();
  await raw.close();

  const f = (x: number) => x.toFixed(0).padStart(7);
  console.log(`\n${name} (${OPS} ops, ${WATCH_SAMPLES} watch samples)`);
  console.log(`  register  ${f(regOps)} ops/s   raw put  ${f(rawPutOps)} ops/s   ratio ${(regOps / rawPutOps).toFixed(2)}`);
  console.log(`  resolve   ${f(resOps)} ops/s   raw get  ${f(rawGetOps)} ops/s   ratio ${(resOps / rawGetOps).toFixed(2)}`);
  console.log(`  watch     ${watchMs.toFixed(2).padStart(7)} ms p50  raw      ${rawWatchMs.toFixed(2).padStart(7)} ms p50  ratio ${(watchMs / rawWatchMs).toFixed(2)}`);
  console.log(`  expiry detected after the last heartbeat, TTL 2 s: ${detections.map((d) => (d / 1000).toFixed(2) + " s").join(", ")}`);
}

async function main(): Promise<void> {
  const nats = await startNatsServer();
  const etcd = await startEtcdServer();
  try {
    const nc = await connect({ servers: nats.url });
    const kv = await new Kvm(nc).create("raw_bench", { history: 1, ttl: 60_000 });
    await benchAdapter("NATS KV", (ns, ttl) => `${nats.url}?bucket=${ns}&ttl=${ttl}`, {
      put: async (i, value) => void (await kv.put(`raw.node.n${i}`, value)),
      get: async (i) => void (await kv.get(`raw.node.n${i}`)),
      watchLatency: async (samples) => {
        const watcher = await kv.watch({ key: "w.>", include: "updates" });
        const it = watcher[Symbol.asyncIterator]();
        const out: number[] = [];
        for (let i = 0; i < samples; i++) {
          const start = performance.now();
          const next = it.next();
          await kv.put(`w.node.n${i}`, "x");
          await next;
          out.push(performance.now() - start);
        }
        watcher.stop();
        return out;
      },
      close: () => nc.close(),
    });

    const client = new Etcd3({ hosts: etcd.clientUrl });
    await benchAdapter("etcd", (ns, ttl) => `${etcd.url}?prefix=/${ns}/&ttl=${ttl}`, {
      // The adapter grants a lease per entry; the raw client does the same so the comparison is like for like.
      put: async (i, value) => {
        const { ID } = await client.leaseClient.leaseGrant({ TTL: 60, ID: 0 });
        await client.put(`/raw/node/n${i}`).value(value).lease(ID).exec();
      },
      get: async (i) => void (await client.get(`/raw/node/n${i}`).exec()),
      watchLatency: async (samples) => {
        const watcher = await client.watch().prefix("/w/").create();
        const out: number[] = [];
        for (let i = 0; i < samples; i++) {
          const start = performance.now();
          const seen = new Promise<void>((resolve) => watcher.once("put", () => resolve()));
          await client.put(`/w/n${i}`).value("x").exec();
          await seen;
          out.push(performance.now() - start);
        }
        await watcher.cancel();
        return out;
      },
      close: async () => client.close(),
    });
  } finally {
    await nats.stop();
    await etcd.stop();
  }
}

await main();
