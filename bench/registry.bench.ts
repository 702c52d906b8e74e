/**
 * Registry benchmark (`npm run bench:registry`): register, resolve and watch on the NATS KV
 * and etcd adapters, each against two peers measured in the same run, median of several
 * rounds (each round on fresh addresses). The output says what each side does and does not do.
 *
 * - the hand-written peer does the same checks with the raw client and onex's public trust
 *   functions, and nothing else: for register, verify the identity and the entry once and
 *   write the high-water mark and then the entry, each a compare-and-set on "does not exist"
 *   (etcd: one transaction); for resolve, read entry and mark together (NATS: two gets sent at
 *   once; etcd: one transaction), parse, verify both every time, compare their times; for
 *   watch, a raw watcher that reads entry and mark and verifies both on each event. It has no
 *   replay memory, no retry on a lost race, no liveness check of etcd leases, no cache.
 * - the floor is the bare store call: a put (etcd: on a lease granted beforehand, as every
 *   entry has one), a get, a watch of a put of the entry. It verifies nothing and writes no mark.
 * - register is timed twice: with entries the registering process signed (a node registering
 *   itself; runtime/trust/record-signature.ts checks those against what it signed) and with
 *   entries signed on another thread (bench/test-nodes.ts), as every other row's are.
 * - the design's own store work, unverified: the writes register makes (NATS KV: mark and entry
 *   compare-and-sets sent together; etcd: a lease grant and one transaction) and the watch plus
 *   what onex's design holds before it reports (NATS KV: the entry's mark as published, seen on
 *   the watch's connection; etcd: the granted TTL of a lease it did not grant, which onex's watch
 *   no longer waits for). Its ratio to the floor is the most a verifying implementation of this
 *   design can reach; onex's ratio to it is what verification and onex's own work add.
 * - a watch sample runs from the start of a registration's writes, as register makes them, to the
 *   watcher holding the entry.
 * - list: the registry's list of a namespace's 2 × OPS nodes (verified revisions remembered) and
 *   a registry view's (kept by a watch, from memory), against the raw read of every entry's
 *   bytes, unverified (NATS KV: nats.js's keys(), then a get of each, as a hand-written list
 *   would; etcd: one range read).
 *
 * Operations run interleaved op by op in random order; the three watchers run at once, on
 * connections of their own (as another process's would), sample by sample in random order.
 * Every NATS connection is configured as onex's. `resolve` is timed twice: warm (the registry
 * verified these revisions before: a router or a health watcher) and cold (a Registry that
 * never saw them: a CLI run, a new process). Then the time from a node's last heartbeat to its
 * expiry being reported. Starts its own nats-server and etcd. Never fails on timing.
 *   BENCH_ROUNDS=5 BENCH_OPS=200 BENCH_WATCH=100 BENCH_FRESH=2000 npm run bench:registry
 *   (the "watch, fresh" row: BENCH_FRESH registrations one at a time, the last BENCH_WATCH timed;
 *   the "watch, paced" row: BENCH_WATCH more samples of onex's and the raw watch, 5 ms apart)
 *   BENCH_BACKEND=etcd npm run bench:registry     (one backend only: "NATS KV" or "etcd")
 */
import { availableParallelism } from "node:os";
import { Kvm, type KV } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { Etcd3 } from "etcd3";
// The built packages, as a service installs them (`npm run build` first; the script points tsx at
// bench/tsconfig.built.json): the sources run through tsx would time its transform's additions (a
// `__name` call per closure made) and not the code users run. The peers use the same built trust
// functions, so both sides pay the same for the same checks.
import {
  assertStrongPublicKey,
  decodeSubjectToken,
  ed25519Library,
  encodeSubjectToken,
  verifyNodeIdentity,
  verifyRegistryEntry,
  type NodeIdentityRecord,
  type RegistryEntryRecord,
} from "@onex/runtime";
import { openRegistry, parseAddress, type CanonicalAddress, type Registry } from "@onex/runtime/registry";
import { createHash, generateKeyPairSync } from "node:crypto";
import { startEtcdServer } from "../test/support/etcd-server.js";
import { startNatsServer } from "../test/support/nats-server.js";
import { BUILD, makeNode, nodesSignedElsewhere, type TestNode } from "./test-nodes.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const OPS = Number(process.env.BENCH_OPS ?? 200);
const WATCH_SAMPLES = Number(process.env.BENCH_WATCH ?? 100);
const LISTS = 20;
const FRESH_FILL = Number(process.env.BENCH_FRESH ?? 2_000);
/** Milliseconds between the registrations of the paced watch samples. */
const PACE_MS = 5;
const TTL_S = 60;

/** Raw access to one namespace's entries and marks, as the adapter lays them out. */
interface RawNamespace {
  /** Bare put of the entry (etcd: on a lease granted by `prepare`). */
  put(key: CanonicalAddress, value: string, lease?: string): Promise<void>;
  get(key: CanonicalAddress): Promise<string | undefined>;
  /** Hand-written verified CAS: mark then entry, both "must not exist" (etcd: one transaction). */
  createBoth(key: CanonicalAddress, value: string): Promise<void>;
  /** The writes onex's register makes, without verifying: mark and entry as compare-and-sets sent together (etcd: a lease grant, unless `lease` is given, then one transaction). */
  writeLikeOnex(key: CanonicalAddress, value: string, lease?: string): Promise<void>;
  /** Entry and mark, read together. */
  getBoth(key: CanonicalAddress): Promise<[string | undefined, string | undefined]>;
  /** Every entry's bytes, unverified (NATS KV: the keys, then a get of each, as the adapter lists; etcd: one range read). */
  list(): Promise<string[]>;
  /** What must happen before a timed put (etcd: a lease grant); its result goes to `put`. */
  prepare(): Promise<string | undefined>;
  /**
   * Calls `onPut(key)` for every entry put from now on; returns a stop function. With `readLikeOnex`,
   * only once it holds what onex's design holds before it reports, verifying nothing (NATS KV: the
   * entry's mark as it was published, seen on the watch's connection, or else read; etcd: the
   * granted TTL of a lease it did not grant, which onex's watch no longer waits for).
   */
  watch(onPut: (key: CanonicalAddress) => void, readLikeOnex?: boolean): Promise<() => void>;
  /** Closes the connection, when the namespace has one of its own. */
  close(): Promise<void>;
}

interface Backend {
  name: string;
  url(namespace: string, ttl: string): string;
  /** Raw access on the backend's shared connection, or (`own`) on a connection of its own, as a watcher in another process has. */
  raw(namespace: string, own?: boolean): Promise<RawNamespace>;
  close(): Promise<void>;
}

interface Registration {
  format: number;
  entry: RegistryEntryRecord;
  identity: NodeIdentityRecord;
}

const partsOf = (node: TestNode): CanonicalAddress => ({ zone: node.entry.zone, entityType: "node", id: node.identity.node_id });

// Store keys as the adapters lay them out (runtime/registry/nats-kv.ts, store-key.ts), spelled with
// the package's public subject-token codec and remembered per address, as the adapters remember them.
const keyMemo = new Map<string, string>();
const remembered = (id: string, make: () => string) => keyMemo.get(id) ?? (keyMemo.set(id, make()), keyMemo.get(id)!);
const kvToken = (value: string) => encodeSubjectToken(value).replaceAll("~", "=");
const natsKvKey = (key: CanonicalAddress) => remembered(`nats ${key.zone} ${key.entityType} ${key.id}`, () => `${kvToken(key.zone)}.${key.entityType}.${kvToken(key.id)}`);
const pathKeyOf = (prefix: string, key: CanonicalAddress) => prefix + remembered(`path ${key.zone} ${key.entityType} ${key.id}`, () => `${encodeSubjectToken(key.zone)}/${key.entityType}/${encodeSubjectToken(key.id)}`);

function parseTokens(parts: string[], untoken: (token: string) => string): CanonicalAddress | undefined {
  if (parts.length !== 3 || parts[1] !== "node") return undefined;
  return { zone: decodeSubjectToken(untoken(parts[0]!)), entityType: "node", id: decodeSubjectToken(untoken(parts[2]!)) };
}
const parseNatsKvKey = (key: string) => parseTokens(key.split("."), (token) => token.replaceAll("=", "~"));
const parsePathKey = (prefix: string, key: string) => (key.startsWith(prefix) ? parseTokens(key.slice(prefix.length).split("/"), (token) => token) : undefined);

const valueOf = (node: TestNode) => JSON.stringify({ format: 1, entry: node.entry, identity: node.identity } satisfies Registration);

/** The verification a careful hand-written reader does: identity derivation once, the entry's signature with its key, the address it is stored under. */
function verifyByHand(text: string, key: CanonicalAddress): RegistryEntryRecord {
  const { entry, identity } = JSON.parse(text) as Registration;
  const nodeKey = verifyNodeIdentity(identity);
  verifyRegistryEntry(entry, nodeKey);
  const parts = parseAddress(entry.address);
  if (entry.node_id !== identity.node_id || entry.zone !== identity.zone || parts.id !== key.id || parts.zone !== key.zone) throw new Error("identity mismatch");
  return entry;
}

/** Reads and verifies entry and mark by hand; the mark must be no newer than the entry. */
async function resolveByHand(raw: RawNamespace, key: CanonicalAddress): Promise<void> {
  const [entry, mark] = await raw.getBoth(key);
  if (entry === undefined || mark === undefined) throw new Error("missing");
  const verified = verifyByHand(entry, key);
  const markEntry = verifyByHand(mark, key);
  if (Date.parse(markEntry.registered_at) > Date.parse(verified.registered_at)) throw new Error("replayed");
}

/**
 * Rates (ops/s) of several operations run interleaved, op i of each in turn in a fresh random
 * order, so load from others on the machine, and the garbage one op leaves for the next to
 * collect, fall on all alike.
 */
async function interleaved(n: number, ops: ((i: number) => Promise<unknown>)[]): Promise<number[]> {
  const spent = ops.map(() => 0);
  const order = ops.map((_, k) => k);
  for (let i = 0; i < n; i++) {
    for (let k = order.length - 1; k > 0; k--) {
      const j = Math.floor(Math.random() * (k + 1));
      [order[k], order[j]] = [order[j]!, order[k]!];
    }
    for (const k of order) {
      const start = performance.now();
      await ops[k]!(i);
      spent[k]! += performance.now() - start;
    }
  }
  return spent.map((ms) => (n / ms) * 1_000);
}

/**
 * One watch sample: from the start of a registration's writes, as register makes them (mark and
 * entry: NATS KV sends both at once, etcd commits one transaction), to the watcher holding the entry.
 */
async function watchSample(raw: RawNamespace, node: TestNode, seen: (node: TestNode) => Promise<void>): Promise<number> {
  const lease = await raw.prepare();
  const start = performance.now();
  const arrived = seen(node).then(() => performance.now());
  await raw.writeLikeOnex(partsOf(node), valueOf(node), lease);
  return (await arrived) - start;
}

/** An onex registry's watch of updates, on a connection of its own, and its waiter for the addresses it reports. */
async function onexWatcher(url: string): Promise<{ seen: ReturnType<typeof waiter<string>>; stop(): Promise<void> }> {
  const watchRegistry = await openRegistry(url);
  const changes = watchRegistry.watch({}, { updatesOnly: true });
  const seen = waiter<string>();
  const pump = (async () => {
    for await (const change of changes) seen.push(change.address);
  })();
  return {
    seen,
    stop: async () => {
      await changes.return!();
      await pump;
      await watchRegistry.close();
    },
  };
}

/** The floor's watch (the raw store watch of puts) on a connection of its own, and its waiter for the node ids it reports. */
async function rawWatcherOf(backend: Backend, namespace: string): Promise<{ seen: ReturnType<typeof waiter<string>>; stop(): Promise<void> }> {
  const rawWatcher = await backend.raw(namespace, true);
  const seen = waiter<string>();
  const stopRaw = await rawWatcher.watch((key) => seen.push(key.id));
  return {
    seen,
    stop: async () => {
      stopRaw();
      await rawWatcher.close();
    },
  };
}

/** Resolves when `test` holds for something `subscribe` reports; a one-slot waiter list. */
function waiter<T>(): { wait(test: (item: T) => boolean): Promise<void>; push(item: T): void } {
  let pending: { test: (item: T) => boolean; resolve: () => void } | undefined;
  return {
    wait: (test) => new Promise<void>((resolve) => (pending = { test, resolve })),
    push: (item) => {
      if (pending?.test(item)) {
        const { resolve } = pending;
        pending = undefined;
        resolve();
      }
    },
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Round {
  registerOwn: number;
  register: number;
  handRegister: number;
  rawPut: number;
  designPut: number;
  resolveWarm: number;
  resolveCold: number;
  handResolve: number;
  rawGet: number;
  list: number;
  viewList: number;
  rawList: number;
  watch: number;
  handWatch: number;
  rawWatch: number;
  designWatch: number;
  watchPaced: number;
  rawWatchPaced: number;
}

async function round(backend: Backend, r: number): Promise<Round> {
  const ns = (what: string) => `b${process.pid}r${r}${what}`;
  const registry = await openRegistry(backend.url(ns("onex"), `${TTL_S}s`));
  const onexRaw = await backend.raw(ns("onex"));
  const handRaw = await backend.raw(ns("hand"));
  const floorRaw = await backend.raw(ns("floor"));
  const designRaw = await backend.raw(ns("design"));
  // Entries a node registers are signed by that node, in its own process: `ownNodes`. Every other
  // entry here (those read back, those the peers write, those watched) was signed on another thread.
  const ownNodes = Array.from({ length: OPS }, () => makeNode());
  // Four nodes a back-to-back watch sample (one a watcher), then four a paced one (two used).
  const [nodes, handNodes, watchNodes] = [await nodesSignedElsewhere(OPS), await nodesSignedElsewhere(OPS), await nodesSignedElsewhere(8 * WATCH_SAMPLES)];
  const handValues = handNodes.map(valueOf);

  const [registerOwn, register, handRegister, rawPut, designPut] = await interleaved(OPS, [
    (i) => registry.register(ownNodes[i]!.entry, ownNodes[i]!.identity),
    (i) => registry.register(nodes[i]!.entry, nodes[i]!.identity),
    (i) => {
      verifyByHand(handValues[i]!, partsOf(handNodes[i]!));
      return handRaw.createBoth(partsOf(handNodes[i]!), handValues[i]!);
    },
    async (i) => floorRaw.put(partsOf(handNodes[i]!), handValues[i]!, await floorRaw.prepare()),
    (i) => designRaw.writeLikeOnex(partsOf(handNodes[i]!), handValues[i]!),
  ]) as [number, number, number, number, number];
  const cold = await openRegistry(backend.url(ns("onex"), `${TTL_S}s`));
  // Reads that verify apart from reads that do not: each pair shares a run.
  const [resolveWarm, rawGet] = (await interleaved(OPS, [(i) => registry.resolve(nodes[i]!.address), (i) => floorRaw.get(partsOf(handNodes[i]!))])) as [number, number];
  const [resolveCold, handResolve] = (await interleaved(OPS, [(i) => cold.resolve(nodes[i]!.address), (i) => resolveByHand(handRaw, partsOf(handNodes[i]!))])) as [number, number];
  await cold.close();
  // Listing the namespace's 2 × OPS nodes: the registry reads and verifies them (the verified
  // revisions remembered), a view of it answers from memory, the raw list reads them unverified.
  const view = await registry.view();
  const [list, viewList, rawList] = (await interleaved(LISTS, [() => registry.list(), () => view.list(), () => onexRaw.list()])) as [number, number, number];
  await view.close();

  // Watch: from the entry's put to the watcher holding it. The four watchers run at once, each on
  // its own namespace and its own connection (as a watcher in another process would), sample i of
  // each in a fresh random order, so load from others falls on all alike.
  const onexWatch = await onexWatcher(backend.url(ns("onex"), `${TTL_S}s`));
  const handWatcher = await backend.raw(ns("hand"), true);
  const handSeen = waiter<string>();
  const stopHand = await handWatcher.watch((key) => {
    void (async () => {
      const [entry, mark] = await handWatcher.getBoth(key);
      const verified = verifyByHand(entry!, key);
      if (Date.parse(verifyByHand(mark!, key).registered_at) > Date.parse(verified.registered_at)) throw new Error("replayed");
      handSeen.push(verified.address);
    })();
  });
  const floorWatch = await rawWatcherOf(backend, ns("floor"));
  const designWatcher = await backend.raw(ns("design"), true);
  const designSeen = waiter<string>();
  const stopDesign = await designWatcher.watch((key) => designSeen.push(key.id), true);
  const samples: number[][] = [[], [], [], []];
  const watchers: ((i: number) => Promise<number>)[] = [
    (i) => watchSample(onexRaw, watchNodes[4 * i]!, (node) => onexWatch.seen.wait((address) => address === node.address)),
    (i) => watchSample(handRaw, watchNodes[4 * i + 1]!, (node) => handSeen.wait((address) => address === node.address)),
    (i) => watchSample(floorRaw, watchNodes[4 * i + 2]!, (node) => floorWatch.seen.wait((id) => id === node.identity.node_id)),
    (i) => watchSample(designRaw, watchNodes[4 * i + 3]!, (node) => designSeen.wait((id) => id === node.identity.node_id)),
  ];
  for (let i = 0; i < WATCH_SAMPLES; i++) {
    for (const k of [0, 1, 2, 3].sort(() => Math.random() - 0.5)) samples[k]!.push(await watchers[k]!(i));
  }
  const [watch, handWatch, rawWatch, designWatch] = samples.map(median) as [number, number, number, number];
  // The same two watches with a registration every PACE_MS instead of back to back, as a quiet zone
  // makes them: between events each watcher's code and data go cold, and the longer path pays more.
  const paced: number[][] = [[], []];
  for (let i = 0; i < WATCH_SAMPLES; i++) {
    for (const k of [0, 1].sort(() => Math.random() - 0.5)) {
      await new Promise((resolve) => setTimeout(resolve, PACE_MS));
      paced[k]!.push(await (k === 0 ? watchers[0]! : watchers[2]!)(WATCH_SAMPLES + i));
    }
  }
  const [watchPaced, rawWatchPaced] = paced.map(median) as [number, number];
  await onexWatch.stop();
  stopHand();
  stopDesign();
  await Promise.all([floorWatch.stop(), handWatcher.close(), designWatcher.close(), onexRaw.close(), handRaw.close(), floorRaw.close(), designRaw.close()]);

  await registry.close();
  return { registerOwn, register, handRegister, rawPut, designPut, resolveWarm, resolveCold, handResolve, rawGet, list, viewList, rawList, watch, handWatch, rawWatch, designWatch, watchPaced, rawWatchPaced };
}

/**
 * A watch begun on an empty namespace, as a router's on a new zone, timed after FRESH_FILL
 * registrations: against the raw watch begun alike. On NATS KV this is where a consumer that
 * delivers each key's last value goes slow (nats-server 2.9 delivers each new message to one made
 * on an empty bucket more slowly with every key written since), so onex's watch reads its first
 * state with one and goes on with a consumer that starts at a sequence; the raw watch (nats.js's
 * kv.watch of updates) delivers new messages only.
 */
async function freshWatch(backend: Backend): Promise<{ watch: number; rawWatch: number }> {
  const ns = (what: string) => `fresh${process.pid}${what}`;
  const onexWatch = await onexWatcher(backend.url(ns("onex"), `${TTL_S}s`));
  const floorWatch = await rawWatcherOf(backend, ns("floor"));
  const [onexRaw, floorRaw] = [await backend.raw(ns("onex")), await backend.raw(ns("floor"))];
  // One registration at a time, each watched before the next, as nodes join a quiet zone; the
  // last WATCH_SAMPLES of each are timed.
  const nodes = await nodesSignedElsewhere(2 * FRESH_FILL);
  const samples: [number[], number[]] = [[], []];
  for (let i = 0; i < FRESH_FILL; i++) {
    for (const k of [0, 1].sort(() => Math.random() - 0.5)) {
      samples[k]!.push(
        k === 0
          ? await watchSample(onexRaw, nodes[2 * i]!, (node) => onexWatch.seen.wait((address) => address === node.address))
          : await watchSample(floorRaw, nodes[2 * i + 1]!, (node) => floorWatch.seen.wait((id) => id === node.identity.node_id)),
      );
    }
  }
  await onexWatch.stop();
  await Promise.all([floorWatch.stop(), onexRaw.close(), floorRaw.close()]);
  return { watch: median(samples[0].slice(-WATCH_SAMPLES)), rawWatch: median(samples[1].slice(-WATCH_SAMPLES)) };
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

async function benchBackend(backend: Backend): Promise<void> {
  const rounds: Round[] = [];
  for (let r = 0; r < ROUNDS; r++) rounds.push(await round(backend, r));
  const m = (field: keyof Round) => median(rounds.map((x) => x[field]));

  const fresh = await freshWatch(backend);
  const ttlRegistry = await openRegistry(backend.url(`detect${process.pid}`, "2s"));
  const detections: number[] = [];
  for (let i = 0; i < 3; i++) detections.push(await detectionTime(ttlRegistry));
  await ttlRegistry.close();

  const ops = (x: number) => `${Math.round(x).toLocaleString("en")} ops/s`.padStart(12);
  const ms = (x: number) => `${x.toFixed(2)} ms p50`.padStart(12);
  const row = (what: string, onex: string, peer: string, peerValue: string, ratio: number, unit: string) => console.log(`  ${what.padEnd(16)}${onex}   ${peer.padEnd(34)}${peerValue}   ${ratio.toFixed(2)}${unit}`);
  console.log(`\n${backend.name} — median of ${ROUNDS} rounds × ${OPS} ops (${WATCH_SAMPLES} watch samples per round)`);
  console.log(`  ${"onex".padEnd(16)}${"".padEnd(12)}   ${"peer".padEnd(34)}${"".padEnd(12)}   ratio`);
  row("register, own", ops(m("registerOwn")), "floor: raw put", ops(m("rawPut")), m("registerOwn") / m("rawPut"), "× (target ≥ 0.5)");
  row("register", ops(m("register")), "hand-written verified CAS", ops(m("handRegister")), m("register") / m("handRegister"), "× the peer's rate");
  row("register", ops(m("register")), "floor: raw put", ops(m("rawPut")), m("register") / m("rawPut"), "×");
  row("register", ops(m("register")), "its writes alone, unverified", ops(m("designPut")), m("register") / m("designPut"), `× (those writes: ${(m("designPut") / m("rawPut")).toFixed(2)}× the raw put)`);
  row("resolve, warm", ops(m("resolveWarm")), "floor: raw get", ops(m("rawGet")), m("resolveWarm") / m("rawGet"), "× (target ≥ 0.8)");
  row("resolve, cold", ops(m("resolveCold")), "hand-written verified get", ops(m("handResolve")), m("resolveCold") / m("handResolve"), "× the peer's rate");
  row("resolve, cold", ops(m("resolveCold")), "floor: raw get", ops(m("rawGet")), m("resolveCold") / m("rawGet"), "×");
  const rawList = backend.name === "NATS KV" ? "raw keys() + a get each, unverified" : "floor: raw range read, unverified";
  row(`list, ${2 * OPS} nodes`, ops(m("list")), rawList, ops(m("rawList")), m("list") / m("rawList"), "× the peer's rate");
  row(`view list`, ops(m("viewList")), rawList, ops(m("rawList")), m("viewList") / m("rawList"), `× (a registry view: ${(m("viewList") / m("list")).toFixed(0)}× the registry's list)`);
  row("watch", ms(m("watch")), "hand-written verified watch", ms(m("handWatch")), m("watch") / m("handWatch"), "× the peer's time");
  row("watch", ms(m("watch")), "floor: raw watch", ms(m("rawWatch")), m("watch") / m("rawWatch"), "× (target ≤ 1.5)");
  row("watch", ms(m("watch")), "raw watch + the design's wait", ms(m("designWatch")), m("watch") / m("designWatch"), `× (that wait: ${(m("designWatch") / m("rawWatch")).toFixed(2)}× the raw watch)`);
  row("watch, paced", ms(m("watchPaced")), "floor: raw watch, paced alike", ms(m("rawWatchPaced")), m("watchPaced") / m("rawWatchPaced"), `× (a registration every ${PACE_MS} ms, as a quiet zone makes them)`);
  row("watch, fresh", ms(fresh.watch), "floor: raw watch, begun alike", ms(fresh.rawWatch), fresh.watch / fresh.rawWatch, `× (watches begun on an empty namespace: the last ${WATCH_SAMPLES} of ${FRESH_FILL.toLocaleString("en")} registrations)`);
  console.log(`  expiry detected after the last heartbeat, TTL 2 s: ${detections.map((d) => (d / 1000).toFixed(2) + " s").join(", ")}`);
}

async function natsBackend(url: string): Promise<Backend> {
  // Configured as onex's connection is (no async stack traces: two Error objects fewer per request).
  const connectLikeOnex = () => connect({ servers: url, noAsyncTraces: true });
  const nc = await connectLikeOnex();
  return {
    name: "NATS KV",
    url: (ns, ttl) => `${url}?bucket=${ns}&ttl=${ttl}`,
    async raw(ns, own) {
      const conn = own ? await connectLikeOnex() : nc;
      const kvm = new Kvm(conn);
      const open = async (name: string, ttl?: number): Promise<KV> => kvm.create(name, { history: 1, ...(ttl ? { ttl } : {}) });
      // The same buckets the adapter opens (or creates) for the namespace.
      const kv = await open(ns, TTL_S * 1_000);
      const marks = await open(`${ns}_marks`);
      return {
        close: async () => void (own ? await conn.close() : undefined),
        put: async (key, value) => void (await kv.put(natsKvKey(key), value)),
        get: async (key) => (await kv.get(natsKvKey(key)))?.string(),
        createBoth: async (key, value) => {
          await marks.create(natsKvKey(key), value);
          await kv.create(natsKvKey(key), value);
        },
        writeLikeOnex: async (key, value) => void (await Promise.all([marks.create(natsKvKey(key), value), kv.create(natsKvKey(key), value)])),
        getBoth: async (key) => {
          const [entry, mark] = await Promise.all([kv.get(natsKvKey(key)), marks.get(natsKvKey(key))]);
          return [entry?.string(), mark?.string()];
        },
        list: async () => {
          const keys: string[] = [];
          for await (const k of await kv.keys()) keys.push(k);
          return (await Promise.all(keys.map(async (k) => (await kv.get(k))?.string()))).filter((v): v is string => v !== undefined);
        },
        prepare: async () => undefined,
        watch: async (onPut, readLikeOnex) => {
          // As onex's watch does on one server: the marks as they are published, on the watch's
          // connection, where they arrive ahead of their entries; an entry that is its key's last
          // published mark needs no read before it is reported (onex then reads the mark anyway).
          const tapped = new Map<string, string>();
          const tap = readLikeOnex ? conn.subscribe(`$KV.${ns}_marks.>`, { callback: (_error, msg) => void tapped.set(msg.subject.slice(`$KV.${ns}_marks.`.length), msg.string()) }) : undefined;
          const watcher = await kv.watch({ key: ">", include: "updates" });
          void (async () => {
            for await (const e of watcher) {
              // As onex does, the mark is asked for at the key as delivered, before the key is decoded.
              const mark = readLikeOnex && e.operation === "PUT" ? marks.get(e.key) : undefined;
              mark?.catch(() => undefined);
              const key = parseNatsKvKey(e.key);
              if (e.operation !== "PUT" || key === undefined) continue;
              if (mark === undefined || tapped.get(e.key) === e.string()) onPut(key);
              else void mark.then(() => onPut(key));
            }
          })();
          return () => {
            tap?.unsubscribe();
            watcher.stop();
          };
        },
      };
    },
    close: () => nc.close(),
  };
}

async function etcdBackend(url: string, clientUrl: string): Promise<Backend> {
  const shared = new Etcd3({ hosts: clientUrl });
  return {
    name: "etcd",
    url: (ns, ttl) => `${url}?prefix=/${ns}/&ttl=${ttl}`,
    async raw(ns, own) {
      const client = own ? new Etcd3({ hosts: clientUrl }) : shared;
      const entryKey = (key: CanonicalAddress) => pathKeyOf(`/${ns}/`, key);
      const markKey = (key: CanonicalAddress) => pathKeyOf(`/${ns}#marks/`, key);
      const grant = async () => (await client.leaseClient.leaseGrant({ TTL: TTL_S, ID: 0 })).ID;
      return {
        close: async () => void (own ? client.close() : undefined),
        put: async (key, value, lease) => void (await client.put(entryKey(key)).value(value).lease(lease!).exec()),
        get: async (key) => (await client.get(entryKey(key)).exec()).kvs[0]?.value.toString(),
        createBoth: async (key, value) => {
          const lease = await grant();
          const result = await client.if(entryKey(key), "Mod", "==", 0).and(markKey(key), "Mod", "==", 0).then(client.put(markKey(key)).value(value), client.put(entryKey(key)).value(value).lease(lease)).commit();
          if (!result.succeeded) throw new Error("lost a race no one runs");
        },
        writeLikeOnex: async (key, value, granted) => {
          const lease = granted ?? (await grant());
          const result = await client.if(entryKey(key), "Mod", "==", 0).and(markKey(key), "Mod", "==", 0).then(client.put(markKey(key)).value(value), client.put(entryKey(key)).value(value).lease(lease)).commit();
          if (!result.succeeded) throw new Error("lost a race no one runs");
        },
        getBoth: async (key) => {
          const txn = await client.kv.txn({ compare: [], success: [await client.get(entryKey(key)).op(), await client.get(markKey(key)).op()], failure: [] });
          return [txn.responses[0]?.response_range.kvs[0]?.value.toString(), txn.responses[1]?.response_range.kvs[0]?.value.toString()];
        },
        list: async () => Object.values(await client.getAll().prefix(`/${ns}/`).strings()),
        prepare: grant,
        watch: async (onPut, readLikeOnex) => {
          const watcher = await client.watch().prefix(`/${ns}/`).create();
          watcher.on("put", (kv) => {
            // As onex does for a lease it did not grant: its granted TTL, asked as the entry arrives.
            const lookup = readLikeOnex ? client.leaseClient.leaseTimeToLive({ ID: kv.lease, keys: false }) : undefined;
            const key = parsePathKey(`/${ns}/`, kv.key.toString());
            if (key === undefined) return;
            if (lookup === undefined) onPut(key);
            else void lookup.then(() => onPut(key));
          });
          return () => void watcher.cancel();
        },
      };
    },
    close: async () => shared.close(),
  };
}

async function main(): Promise<void> {
  const only = process.env.BENCH_BACKEND;
  // A misspelt name would otherwise bench nothing and say so nowhere.
  if (only !== undefined && only !== "NATS KV" && only !== "etcd") throw new Error(`BENCH_BACKEND is "NATS KV" or "etcd", not ${JSON.stringify(only)}`);
  console.log(`bench:registry — ${availableParallelism()} cores; loopback servers started by the bench, on the same machine`);
  console.log(`Ed25519: onex verifies with ${ed25519Library()}${ed25519Library() === "libsodium" ? " (sodium-native)" : ""}, and so do the hand-written peers, which call its trust functions`);
  console.log("each operation against two peers measured in the same run, interleaved op by op (watch: sample by sample) in random order");
  console.log("  onex register: verify identity and entry, write mark and entry as compare-and-sets (etcd: one transaction with a lease grant first;");
  console.log("    NATS KV: both sent at once on a single server), remember what was verified; resolve: read (mark too unless this revision was found");
  console.log("    fresh before), verify unless this revision was verified before, check etcd's lease; watch: verify each changed entry, check it");
  console.log("    against its mark (NATS KV on one server: the mark as published, seen on the watch's connection ahead of the entry and verified as");
  console.log("    it comes, then the stored mark read to confirm; etcd: the mark seen on the same watch, no read) and, on etcd, look up the lease's");
  console.log("    granted TTL (one round trip for a lease this process did not grant, as in this bench's puts, not waited for)");
  console.log("  hand-written: the raw client and onex's public trust functions, the same checks with nothing remembered — register verifies and");
  console.log("    writes mark then entry as compare-and-sets on 'does not exist' (NATS KV: one after the other; etcd: one transaction);");
  console.log("    resolve reads entry and mark together and verifies both every time; watch reads entry and mark on each event and verifies both;");
  console.log("    no replay memory, retries, etcd lease checks or cache");
  console.log("  floor: the bare store call — put of the entry alone (etcd: on a lease granted beforehand), get, watch of a put (time to the");
  console.log("    callback); verifies nothing, writes or reads no mark, checks no lease");
  console.log("  unverified, the store work of onex's design: register's writes (NATS KV: mark and entry compare-and-sets sent together; etcd: a");
  console.log("    lease grant, one transaction), and a raw watch that holds what onex's design holds before it reports (NATS KV: the mark as");
  console.log("    published; etcd: the lease's TTL, which onex's watch no longer waits for)");
  console.log("  a watch sample: from the start of a registration's writes (mark and entry, as register makes them) to the watcher holding the entry");
  console.log("  list: the registry reads and verifies every entry (unless verified at that revision); a view answers from what its watch reported;");
  console.log("    the raw list reads every entry's bytes and verifies nothing (NATS KV: nats.js's keys(), then a get of each, as a hand-written");
  console.log("    list would and onex's did; onex now reads each key's last value with one consumer; etcd: one range read, the floor)");
  console.log("  register, own: entries the registering process signed itself, as a node registers (the entry's signature is checked against");
  console.log("    what this process signed, without the Ed25519 arithmetic); every other row's entries were signed on another thread, as a CLI's");
  console.log("    registration file or any entry a registry reads back, and verify in full");
  console.log("  resolve warm: revisions this Registry verified before (a router, a health watcher); cold: a Registry that never saw them");
  console.log("  watchers run on connections of their own (as another process's would), the puts on the bench's; all connections configured as onex's");
  // Every row below verifies keys and identities this process met before the rows
  // (bench/test-nodes.ts). The trust layer remembers what it found of a key (strong: the weak-key
  // check; its id; the node id derived from it) and the identities it passed, so the rows
  // verify without that work, as a watcher verifies a node's next registration; a registry in
  // another process does it the first time it meets a node. Timed apart on keys made with node:crypto alone.
  const freshKey = () => generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" }).x!;
  const unseen = Array.from({ length: 200 }, () => Buffer.from(freshKey(), "base64url"));
  let start = performance.now();
  for (const key of unseen) assertStrongPublicKey(key);
  const weakMs = (performance.now() - start) / unseen.length;
  const zone = "zone.trusted.org";
  const identities = Array.from({ length: 200 }, () => {
    const publicKey = freshKey();
    // The id as the protocol derives it: SHA-256 of the canonical JSON (here plain JSON: ASCII strings, keys in order).
    const id = createHash("sha256").update(JSON.stringify({ build_fingerprint: BUILD, public_key: publicKey, zone })).digest("hex").slice(0, 32);
    return { node_id: `node-${id}`, public_key: publicKey, build_fingerprint: BUILD, zone };
  });
  start = performance.now();
  for (const identity of identities) verifyNodeIdentity(identity);
  const firstSightMs = (performance.now() - start) / identities.length;
  console.log(`  not in the rows: a node this process never saw adds ${firstSightMs.toFixed(2)} ms to its first verification, once per node (the weak-key check`);
  console.log(`    ${weakMs.toFixed(2)} ms; the key's id, the identity's shape and the node id's derivation the rest; OpenSSL imports a key only if asked); each node is met once before the rows, so they do`);
  console.log("    not pay it; a registry in another process pays it on the first verification of every new node's entry");
  const nats = await startNatsServer();
  const etcd = await startEtcdServer();
  try {
    for (const backend of [await natsBackend(nats.url), await etcdBackend(etcd.url, etcd.clientUrl)]) {
      if (only === undefined || only === backend.name) await benchBackend(backend);
      await backend.close();
    }
  } finally {
    await nats.stop();
    await etcd.stop();
  }
}

await main();
