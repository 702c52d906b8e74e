/**
 * Health announcements and routing over a real registry (NATS KV on a test nats-server).
 * The health watcher publishes through a real control-plane client, and the test reads the
 * announcements back from JetStream; `dispatch` is an in-process function standing where a
 * deployment wires request/reply: what is tested is what the registry side decides and signs.
 * A store writer replaying an older entry must move neither the watcher nor the router.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import type { Delivery } from "../../runtime/control-plane.js";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { HealthWatcher } from "../../runtime/registry/health-watcher.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { Registry } from "../../runtime/registry/registry.js";
import { MAX_PROOF_DETAIL_CHARS, Router, type DispatchTransport, type FallbackProof } from "../../runtime/registry/router.js";
import { attestExecution } from "../../runtime/trust/attestation.js";
import type { Envelope } from "../../runtime/trust/envelope.js";
import { generateKeyPair, keyRing, type KeyPair } from "../../runtime/trust/keys.js";
import { verifyMessage } from "../../runtime/trust/sign-message.js";
import { buildFingerprint, createNodeIdentity } from "../../runtime/trust/identity.js";
import { signRegistryEntry } from "../../runtime/trust/registry-entry.js";
import { nodeAddress } from "../../runtime/registry/address.js";
import { TrustLedger } from "../../runtime/trust/trust-ledger.js";
import { applyBundledStreams, client as controlPlaneClient } from "../jetstream/fixtures.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { eventually, makeNode, partsOf, resign } from "./fixtures.js";
import { natsKvWriter } from "./store-writer.js";

const ZONE = "zone.trusted.org";
const addresses = (entries: { address: string }[]) => entries.map((e) => e.address);
let server: NatsServer;
let n = 0;
const open: Registry[] = [];
const clients: OnexClient[] = [];
const registry = async (ttl = "2s") => {
  const bucket = `health${process.pid}x${++n}`;
  const r = await openRegistry(`${server.url}?bucket=${bucket}&ttl=${ttl}`, { onTampered: () => undefined });
  open.push(r);
  return Object.assign(r, { bucket });
};

/** A health watcher publishing through a real client signing with `key`, and everything it published, read back from the stream. */
async function watcherOn(r: Registry, key: KeyPair) {
  const self = makeNode(ZONE, { key });
  const client = await controlPlaneClient(server.url, key, [key]);
  clients.push(client);
  const watcher = new HealthWatcher({ registry: r, key, address: self.address, messages: v0_1, client });
  const announced: Delivery<v0_1.NodeFailed | v0_1.NodeRegister>[] = [];
  const subscription = await client.subscribe([v0_1.NodeFailed, v0_1.NodeRegister], { zone: ZONE, entityType: "node", entityId: self.identity.node_id, deliver: "all" });
  const reading = (async () => {
    for await (const delivery of subscription) {
      announced.push(delivery);
      await delivery.ack();
    }
  })();
  return {
    self,
    watcher,
    announced,
    /** node ids announced as `type`, in order. */
    nodes: (type: string) => announced.filter((d) => d.message.type === type).map((d) => (d.message.payload as { node_id: string }).node_id),
    async stop() {
      await watcher.stop();
      await subscription.stop();
      await reading;
    },
  };
}

beforeAll(async () => {
  server = await startNatsServer();
  await applyBundledStreams(server.url);
});
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()));
  await Promise.all(clients.map((c) => c.close()));
  await server?.stop();
});

describe("health watcher", () => {
  it("announces a dead node once, signed by the watcher, and a joining node", async () => {
    const r = await registry("2s");
    const watcherKey = generateKeyPair();
    const health = await watcherOn(r, watcherKey);
    const present = makeNode(ZONE);
    await r.register(present.entry, present.identity);
    health.watcher.start();
    const dying = makeNode(ZONE);
    await r.register(dying.entry, dying.identity);
    const beat = setInterval(() => void r.heartbeat(present.address).catch(() => undefined), 400);
    try {
      await eventually(async () => health.nodes("event.node.failed").length > 0, 20_000, "event.node.failed");
      // A later node's expiry: every announcement about the first lapse was published before it.
      const sentinel = makeNode(ZONE);
      await r.register(sentinel.entry, sentinel.identity);
      await eventually(async () => health.nodes("event.node.failed").includes(sentinel.identity.node_id), 20_000, "the sentinel's event.node.failed");
    } finally {
      clearInterval(beat);
      await health.stop();
    }
    const failed = health.nodes("event.node.failed");
    expect(failed).toEqual([dying.identity.node_id, expect.any(String)]);
    // The node present before the watcher started is state, not a join.
    expect(health.nodes("event.node.register").slice(0, 1)).toEqual([dying.identity.node_id]);
    for (const d of health.announced) {
      // Valid v0.1 messages, verified by the receiving client as signed by the watcher's key, from the watcher's address.
      expect(d.signer).toBe(watcherKey.keyId);
      expect(d.message.source).toEqual({ zone: ZONE, entity_type: "node", entity_id: health.self.identity.node_id });
    }
    const joined = health.announced.find((d) => d.message.type === "event.node.register")!.message as v0_1.NodeRegister;
    expect(joined.payload.build_fingerprint).toBe(dying.identity.build_fingerprint);
  }, 60_000);

  it("does not announce a node again when a store writer puts back its older entry", async () => {
    const r = await registry("30s");
    const watcherKey = generateKeyPair();
    const health = await watcherOn(r, watcherKey);
    const node = makeNode(ZONE, { registeredAt: new Date(Date.now() - 60_000).toISOString() });
    await r.register(node.entry, node.identity);
    const writer = await natsKvWriter(server.url, r.bucket);
    try {
      const old = (await writer.read(partsOf(node)))!;
      await r.register(resign(node, { capabilities: ["v2"] }), node.identity);
      health.watcher.start();
      // The node leaves; the writer brings its registration of a minute ago back.
      await r.deregister(node.address);
      await writer.put(partsOf(node), old);
      const sentinel = makeNode(ZONE);
      await r.register(sentinel.entry, sentinel.identity);
      await eventually(async () => health.nodes("event.node.register").includes(sentinel.identity.node_id), 20_000, "the sentinel's event.node.register");
      expect(health.nodes("event.node.register")).toEqual([sentinel.identity.node_id]);
      expect(await r.resolve(node.address).catch((e: OnexError) => e.details.cause)).toBe(ErrorCode.Replay);
    } finally {
      await writer.close();
      await health.stop();
    }
  }, 60_000);
});

describe("health watcher and a store writer", () => {
  it("announces a node that died after a store writer overwrote its entry with bytes that do not verify", async () => {
    const r = await registry("2s");
    const health = await watcherOn(r, generateKeyPair());
    health.watcher.start();
    const node = makeNode(ZONE);
    await r.register(node.entry, node.identity);
    const writer = await natsKvWriter(server.url, r.bucket);
    try {
      await eventually(async () => health.nodes("event.node.register").includes(node.identity.node_id), 20_000, "the node's event.node.register");
      // The node dies; the writer's garbage at its key lapses in turn. The watch's expiry carried no
      // entry (the last bytes did not verify), and the watcher announced nothing, for good.
      await writer.put(partsOf(node), "{}");
      const sentinel = makeNode(ZONE);
      await r.register(sentinel.entry, sentinel.identity);
      await eventually(async () => health.nodes("event.node.failed").includes(sentinel.identity.node_id), 20_000, "the sentinel's event.node.failed");
      expect(health.nodes("event.node.failed")).toContain(node.identity.node_id);
    } finally {
      await writer.close();
      await health.stop();
    }
  }, 60_000);
});

describe("health watcher options", () => {
  it("refuses a trust TTL that is no time as ONEX_E_USAGE as it is made (Infinity or NaN was a RangeError at each announcement, which was dropped)", async () => {
    const r = await registry("30s");
    const key = generateKeyPair();
    const self = makeNode(ZONE, { key });
    const client = await controlPlaneClient(server.url, key, [key]);
    clients.push(client);
    for (const trustTtlMs of [Infinity, Number.NaN, -1, 0, 1e16]) {
      expect(() => new HealthWatcher({ registry: r, key, address: self.address, messages: v0_1, client, trustTtlMs })).toThrow(expect.objectContaining({ code: ErrorCode.Usage, message: expect.stringContaining("trustTtlMs") }));
    }
    expect(() => new HealthWatcher({ registry: r, key, address: self.address, messages: v0_1, client, trustTtlMs: 60_000 })).not.toThrow();
  });
});

describe("health watcher and a store writer", () => {
  it("does not announce a join when a node's heartbeat restores the entry a writer garbled", async () => {
    const r = await registry("30s");
    const health = await watcherOn(r, generateKeyPair());
    const node = makeNode(ZONE);
    await r.register(node.entry, node.identity);
    health.watcher.start();
    const writer = await natsKvWriter(server.url, r.bucket);
    try {
      // Known alive before the watcher started; the writer garbles it; the node's heartbeat puts its own entry back.
      await eventually(async () => (await r.list()).length === 1, 10_000, "the node listed");
      await writer.put(partsOf(node), "{}");
      await eventually(async () => (await r.resolve(node.address).catch((e: OnexError) => e.code)) === ErrorCode.EntryTampered, 10_000, "the garbled entry");
      await r.heartbeat(node.address);
      const sentinel = makeNode(ZONE);
      await r.register(sentinel.entry, sentinel.identity);
      await eventually(async () => health.nodes("event.node.register").includes(sentinel.identity.node_id), 20_000, "the sentinel's event.node.register");
      expect(health.nodes("event.node.register")).toEqual([sentinel.identity.node_id]);
      expect((await r.resolve(node.address)).entry).toEqual(node.entry);
    } finally {
      await writer.close();
      await health.stop();
    }
  }, 60_000);
});

describe("health watcher and its owner's mistakes", () => {
  it("a watch that fails, and an onError that throws, end in onError and a stop() that resolves, not an unhandled rejection", async () => {
    const bucket = `healthfail${process.pid}`;
    // The owner's onTampered throws: the registry calls it inside the watch, which then fails.
    const r = await openRegistry(`${server.url}?bucket=${bucket}&ttl=30s`, {
      logger: { warn() {} },
      onTampered: () => {
        throw new Error("onTampered threw");
      },
    });
    open.push(r);
    const key = generateKeyPair();
    const self = makeNode(ZONE, { key });
    const client = await controlPlaneClient(server.url, key, [key]);
    clients.push(client);
    const told: { error: unknown; type: string | undefined }[] = [];
    let watchFailed!: () => void;
    const failed = new Promise<void>((resolve) => (watchFailed = resolve));
    const watcher = new HealthWatcher({
      registry: r,
      key,
      address: self.address,
      messages: v0_1,
      client,
      onError(error, message) {
        told.push({ error, type: message?.type });
        if (message === undefined) watchFailed();
        // An owner's onError that throws, as the watch's failure is told to it too.
        throw new Error("onError threw");
      },
    });
    watcher.start();
    const writer = await natsKvWriter(server.url, bucket);
    try {
      // A join whose announcement cannot be published (the client is closed): onError throws, the watcher carries on.
      await client.close();
      const joining = makeNode(ZONE);
      await r.register(joining.entry, joining.identity);
      await eventually(async () => told.some((t) => t.type === "event.node.register"), 10_000, "the failed announcement told to onError");
      // The writer garbles the entry; the owner's onTampered throws inside the watch.
      await writer.put(partsOf(joining), "{}");
      await failed;
    } finally {
      await writer.close();
    }
    // The failed watch's consumer is gone from the server: it stayed, with the store watch's
    // timers and its pump, for as long as the process ran.
    const nc = await natsConnect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      const watches = async () => (await jsm.consumers.list(`KV_${bucket}`).next()).flatMap((c) => (c === null || !c.name.startsWith("onex_watch_") ? [] : [c.name]));
      await eventually(async () => (await watches()).length === 0, 10_000, "the failed watch's consumer to go");
    } finally {
      await nc.close();
    }
    await expect(watcher.stop()).resolves.toBeUndefined();
    const last = told.at(-1)!;
    expect(last.type).toBeUndefined();
    expect((last.error as Error).message).toMatch(/onTampered threw/);
  });
});

describe("router, watcher and view, given what they cannot use", () => {
  it("refuse it with ONEX_E_USAGE as they are made or called, not each use as a raw TypeError or every candidate 'unreachable'", async () => {
    const r = await registry("30s");
    const key = generateKeyPair();
    const self = makeNode(ZONE, { key });
    const node = makeNode(ZONE);
    await r.register(node.entry, node.identity);
    const client = await controlPlaneClient(server.url, key, [key]);
    clients.push(client);
    const usage = (name: string) => expect.objectContaining({ code: ErrorCode.Usage, message: expect.stringContaining(name) });
    const router = { registry: r, key, address: self.address, messages: v0_1, dispatch: async () => ({ ok: true as const }) };
    // Plain JavaScript: a dispatch left out (every candidate became "unreachable", the task went nowhere), a registry without list.
    expect(() => new Router({ ...router, dispatch: undefined as unknown as DispatchTransport })).toThrow(usage("dispatch"));
    expect(() => new Router({ ...router, registry: {} as Registry })).toThrow(usage("registry.list"));
    expect(() => new Router(null as unknown as ConstructorParameters<typeof Router>[0])).toThrow(usage("options"));
    await expect(new Router(router).route(null as unknown as Parameters<Router["route"]>[0])).rejects.toEqual(usage("request"));
    const watcher = { registry: r, key, address: self.address, messages: v0_1, client };
    expect(() => new HealthWatcher({ ...watcher, client: {} as OnexClient })).toThrow(usage("client.publish"));
    expect(() => new HealthWatcher({ ...watcher, registry: { ttlMs: 1 } as Registry })).toThrow(usage("registry.watch"));
    expect(() => new HealthWatcher({ ...watcher, onError: "log" as unknown as () => void })).toThrow(usage("onError"));
    const view = await r.view(ZONE);
    try {
      await expect(view.list(null as unknown as undefined)).rejects.toEqual(usage("filter"));
      expect(addresses(await view.list())).toEqual([node.address]);
    } finally {
      await view.close();
    }
  });
});

describe("router", () => {
  it("picks by reputation, falls back on timeout and on an attested failure, and carries the proof", async () => {
    const r = await registry("30s");
    const routerKey = generateKeyPair();
    const self = makeNode(ZONE, { key: routerKey });
    const [slow, failing, good, unhealthy, gpuless] = [makeNode(ZONE, { capabilities: ["gpu"] }), makeNode(ZONE, { capabilities: ["gpu"] }), makeNode(ZONE, { capabilities: ["gpu"] }), makeNode(ZONE, { capabilities: ["gpu"], status: "critical" }), makeNode(ZONE, { capabilities: ["cpu"] })];
    const outsider = makeNode("zone.other.org", { capabilities: ["gpu"] });
    for (const node of [slow, failing, good, unhealthy, gpuless, outsider]) await r.register(node.entry, node.identity);

    // Reputation: slow > failing > good, from attestations signed by an auditor the ledger trusts.
    const auditor = generateKeyPair();
    const ledger = new TrustLedger({ keys: keyRing([auditor.publicKey]) });
    const reputation = (node: typeof slow, delta: number) =>
      ledger.apply(attestExecution({ task: { task_id: `warmup-${node.identity.node_id}` }, result: {}, node: node.identity.node_id, outcome: "succeeded", trustDelta: delta, verified: true, executionTime: 1 }, auditor));
    reputation(slow, 0.4);
    reputation(failing, 0.2);
    reputation(good, 0.1);

    const received: { node: string; message: Envelope }[] = [];
    const dispatch: DispatchTransport = async (candidate, message) => {
      received.push({ node: candidate.entry.node_id, message });
      if (candidate.entry.node_id === slow.identity.node_id) return new Promise(() => undefined); // never answers
      if (candidate.entry.node_id === failing.identity.node_id) {
        const task = message.payload as { task_id: string };
        const attestation = attestExecution({ task, result: { error: "out of memory" }, node: failing.identity.node_id, outcome: "failed", trustDelta: -0.1, verified: false, executionTime: 3 }, failing.key);
        return { ok: false, attestation, detail: "out of memory" };
      }
      return { ok: true, result: { done: true } };
    };
    const router = new Router({ registry: r, key: routerKey, address: self.address, messages: v0_1, dispatch, ledger, timeoutMs: 300 });

    const candidates = (await router.candidates({ capability: "gpu" })).map((c) => c.entry.node_id);
    expect(candidates).toEqual([slow, failing, good].map((x) => x.identity.node_id));

    const routed = await router.route({ task_id: "t-1", action: "render", capability: "gpu", input: { frame: 7 } });
    expect(routed.node.entry.node_id).toBe(good.identity.node_id);
    expect(routed.result).toEqual({ done: true });
    expect(received.map((x) => x.node)).toEqual(candidates);

    const fallback = (routed.message.payload as { fallback: FallbackProof[] }).fallback;
    expect(fallback.map((p) => [p.node_id, p.reason])).toEqual([
      [slow.identity.node_id, "timeout"],
      [failing.identity.node_id, "failed"],
    ]);
    expect(fallback[1]!.attestation).toMatchObject({ node: failing.identity.node_id, outcome: "failed", signer: failing.key.keyId });
    // The first dispatch carries no proof, the second the timeout only.
    expect((received[0]!.message.payload as { fallback?: unknown }).fallback).toBeUndefined();
    expect((received[1]!.message.payload as { fallback: FallbackProof[] }).fallback.map((p) => p.reason)).toEqual(["timeout"]);
    for (const { message, node } of received) {
      expect(v0_1.TaskDispatch.parse(message).payload.target).toBe(node);
      expect(verifyMessage(message, { keys: keyRing([routerKey.publicKey]) }).keyId).toBe(routerKey.keyId);
    }
  });

  it("a zone member whose id sorts first is not offered every task: equal candidates go in the router's own draw per task", async () => {
    const r = await registry("30s");
    const routerKey = generateKeyPair();
    const self = makeNode(ZONE, { key: routerKey });
    const honest = [makeNode(ZONE), makeNode(ZONE), makeNode(ZONE)];
    for (const node of honest) await r.register(node.entry, node.identity);
    // The attacker reads the zone and mints identities (one key, builds of its choosing) until its id sorts before every node's.
    const key = generateKeyPair();
    const first = honest.map((n) => n.identity.node_id).sort()[0]!;
    let identity = createNodeIdentity(key, buildFingerprint("hostile-0"), ZONE);
    for (let i = 1; identity.node_id >= first; i++) identity = createNodeIdentity(key, buildFingerprint(`hostile-${i}`), ZONE);
    const address = nodeAddress(ZONE, identity.node_id);
    await r.register(signRegistryEntry({ node_id: identity.node_id, address, zone: ZONE, health: { status: "passing" }, capabilities: ["compute"] }, key), identity);
    const view = await r.view(ZONE);
    try {
      await eventually(async () => (await view.list()).length === 4, 10_000, "four nodes in the view");
      expect(addresses(await view.list())[0]).toBe(address);
      const router = new Router({ registry: view, key: routerKey, address: self.address, messages: v0_1, dispatch: async () => ({ ok: true }) });
      const taken = new Map<string, number>();
      for (let i = 0; i < 100; i++) {
        const routed = await router.route({ task_id: `t-draw-${i}`, action: "run" });
        taken.set(routed.node.entry.node_id, (taken.get(routed.node.entry.node_id) ?? 0) + 1);
        // One task goes to the same node first however often it is routed (a retried task meets the node that may already hold it).
        expect((await router.candidates({ task_id: `t-draw-${i}` }))[0]!.entry.node_id).toBe(routed.node.entry.node_id);
      }
      // In address order the attacker took all 100; each honest node now takes some (each misses all 100 with odds of 3e-13).
      for (const node of honest) expect(taken.get(node.identity.node_id) ?? 0).toBeGreaterThan(0);
      expect(taken.get(identity.node_id) ?? 0).toBeLessThan(100);
    } finally {
      await view.close();
    }
  });

  it("a hostile candidate's answer cannot swell later dispatches, nor pass another task's or a success attestation off as its failure", async () => {
    const r = await registry("30s");
    const routerKey = generateKeyPair();
    const self = makeNode(ZONE, { key: routerKey });
    // Two zone members with their own valid keys, ranked above the honest node.
    const [talker, thrower, honest] = [makeNode(ZONE), makeNode(ZONE), makeNode(ZONE)];
    for (const node of [talker, thrower, honest]) await r.register(node.entry, node.identity);
    const auditor = generateKeyPair();
    const ledger = new TrustLedger({ keys: keyRing([auditor.publicKey]) });
    for (const [node, delta] of [[talker, 0.4], [thrower, 0.3]] as const) {
      ledger.apply(attestExecution({ task: { task_id: `warmup-${node.identity.node_id}` }, result: {}, node: node.identity.node_id, outcome: "succeeded", trustDelta: delta, verified: true, executionTime: 1 }, auditor));
    }
    const megabyte = "x".repeat(2 ** 20);
    // What the talker signs: per route, another task's failure (its task id a megabyte long), then this task's "success".
    const talkerAttestations = [
      attestExecution({ task: { task_id: megabyte }, result: {}, node: talker.identity.node_id, outcome: "failed", trustDelta: -0.1, verified: false, executionTime: 1 }, talker.key),
      attestExecution({ task: { task_id: "t-hostile-2" }, result: {}, node: talker.identity.node_id, outcome: "succeeded", trustDelta: 0, verified: false, executionTime: 1 }, talker.key),
    ];
    const toHonest: Envelope[] = [];
    const dispatch: DispatchTransport = async (candidate, message) => {
      const id = candidate.entry.node_id;
      if (id === talker.identity.node_id) return { ok: false, detail: megabyte, attestation: talkerAttestations[toHonest.length]! };
      if (id === thrower.identity.node_id) throw new Error(megabyte);
      toHonest.push(message);
      return { ok: true, result: { done: true } };
    };
    const router = new Router({ registry: r, key: routerKey, address: self.address, messages: v0_1, dispatch, ledger });
    for (const task_id of ["t-hostile-1", "t-hostile-2"]) {
      const routed = await router.route({ task_id, action: "run" });
      expect(routed.node.entry.node_id).toBe(honest.identity.node_id);
      const proofs = routed.fallback;
      expect(proofs.map((p) => [p.node_id, p.reason])).toEqual([
        [talker.identity.node_id, "failed"],
        [thrower.identity.node_id, "unreachable"],
      ]);
      expect(proofs[0]!.attestation).toBeUndefined();
      expect(proofs[0]!.detail).toMatch(task_id === "t-hostile-1" ? /attestation rejected: the attestation is for task x+…/ : /attestation rejected: the attestation says the task succeeded/);
      for (const proof of proofs) expect(proof.detail!.length).toBeLessThanOrEqual(MAX_PROOF_DETAIL_CHARS);
      // The honest node's dispatch, proof included, is a few kilobytes: far below NATS's 1 MiB payload limit.
      expect(JSON.stringify(toHonest.at(-1)).length).toBeLessThan(8_192);
    }
  });

  it("a candidate's answer holding a lone surrogate, or cut inside a surrogate pair, does not stop the route from falling back", async () => {
    const r = await registry("30s");
    const routerKey = generateKeyPair();
    const self = makeNode(ZONE, { key: routerKey });
    const [lone, cut, honest] = [makeNode(ZONE), makeNode(ZONE), makeNode(ZONE)];
    for (const node of [lone, cut, honest]) await r.register(node.entry, node.identity);
    // Both ranked above the honest node, so each is tried, and answers, before it.
    const auditor = generateKeyPair();
    const ranked = new TrustLedger({ keys: keyRing([auditor.publicKey]) });
    for (const [node, delta] of [[lone, 0.4], [cut, 0.3]] as const) {
      ranked.apply(attestExecution({ task: { task_id: `warmup-${node.identity.node_id}` }, result: {}, node: node.identity.node_id, outcome: "succeeded", trustDelta: delta, verified: true, executionTime: 1 }, auditor));
    }
    // What each says is carried in every later dispatch, which is signed as canonical JSON: a
    // lone surrogate there failed the signing, and with it the whole route.
    const emoji = "\u{1F600}".repeat(MAX_PROOF_DETAIL_CHARS);
    const dispatch: DispatchTransport = async (candidate) => {
      const id = candidate.entry.node_id;
      if (id === lone.identity.node_id) return { ok: false, detail: "refused \ud800 here" };
      if (id === cut.identity.node_id) throw new Error(`${"x".repeat(MAX_PROOF_DETAIL_CHARS - 31)}${emoji}`);
      return { ok: true, result: { done: true } };
    };
    const router = new Router({ registry: r, key: routerKey, address: self.address, messages: v0_1, dispatch, ledger: ranked });
    const routed = await router.route({ task_id: "t-surrogate", action: "run" });
    expect(routed.node.entry.node_id).toBe(honest.identity.node_id);
    expect(routed.fallback.map((p) => [p.node_id, p.reason])).toEqual([
      [lone.identity.node_id, "failed"],
      [cut.identity.node_id, "unreachable"],
    ]);
    for (const proof of routed.fallback) expect((proof.detail as string & { isWellFormed(): boolean }).isWellFormed()).toBe(true);
    expect(routed.fallback[0]!.detail).toBe("refused \ufffd here");
  });

  it("never offers a node whose older, healthier entry a store writer put back", async () => {
    const r = await registry("30s");
    const routerKey = generateKeyPair();
    const self = makeNode(ZONE, { key: routerKey });
    const node = makeNode(ZONE, { capabilities: ["gpu"], registeredAt: new Date(Date.now() - 60_000).toISOString() });
    await r.register(node.entry, node.identity);
    const writer = await natsKvWriter(server.url, r.bucket);
    try {
      const old = (await writer.read(partsOf(node)))!;
      // The node reports itself critical; the writer wants it back in rotation.
      const { signature: _s, key_id: _k, registered_at: _r, ...fields } = node.entry;
      const { signRegistryEntry } = await import("../../runtime/trust/registry-entry.js");
      await r.register(signRegistryEntry({ ...fields, health: { status: "critical" } }, node.key), node.identity);
      await writer.put(partsOf(node), old);
      const fresh = await openRegistry(`${server.url}?bucket=${r.bucket}`, { onTampered: () => undefined });
      open.push(fresh);
      for (const reading of [r, fresh]) {
        const router = new Router({ registry: reading, key: routerKey, address: self.address, messages: v0_1, dispatch: async () => ({ ok: true }) });
        expect(await router.candidates({ capability: "gpu" })).toEqual([]);
        expect(((await router.route({ task_id: "t-replay", action: "run", capability: "gpu" }).catch((e: unknown) => e)) as OnexError).code).toBe(ErrorCode.NoRoute);
      }
    } finally {
      await writer.close();
    }
  });

  it("refuses a timeout or attempt count no route can work with (a timeout of 0 sent the task to every candidate)", async () => {
    const r = await registry("30s");
    const routerKey = generateKeyPair();
    const self = makeNode(ZONE, { key: routerKey });
    let dispatched = 0;
    const dispatch: DispatchTransport = async () => {
      dispatched++;
      return { ok: true };
    };
    for (const bad of [{ timeoutMs: 0 }, { timeoutMs: Number.NaN }, { timeoutMs: -1 }, { maxAttempts: -1 }, { maxAttempts: Number.NaN }, { maxAttempts: 0 }, { maxAttempts: 1.5 }]) {
      expect(() => new Router({ registry: r, key: routerKey, address: self.address, messages: v0_1, dispatch, ...bad })).toThrow(expect.objectContaining({ code: ErrorCode.Usage, message: expect.stringContaining(Object.keys(bad)[0]!) }));
    }
    expect(dispatched).toBe(0);
  });

  it("waits as long as timeoutMs says, past what one Node timer holds (it timed out at once)", async () => {
    const r = await registry("30s");
    const routerKey = generateKeyPair();
    const self = makeNode(ZONE, { key: routerKey });
    const node = makeNode(ZONE);
    await r.register(node.entry, node.identity);
    // Answers after 50 ms: a router whose timer fired at once moved on and found no other candidate.
    const dispatch: DispatchTransport = () => new Promise((resolve) => setTimeout(() => resolve({ ok: true, result: { done: true } }), 50));
    for (const timeoutMs of [30 * 86_400_000, Infinity]) {
      const router = new Router({ registry: r, key: routerKey, address: self.address, messages: v0_1, dispatch, timeoutMs });
      const routed = await router.route({ task_id: `t-long-${timeoutMs}`, action: "run", capability: "compute" });
      expect(routed.node.entry.node_id).toBe(node.identity.node_id);
      expect(routed.result).toEqual({ done: true });
    }
  });

  it("tries at most maxAttempts candidates: a node that answers after its timeout and one that dies mid-task end in ONEX_E_NO_ROUTE, the rest untouched", async () => {
    const r = await registry("30s");
    const routerKey = generateKeyPair();
    const self = makeNode(ZONE, { key: routerKey });
    const nodes = [makeNode(ZONE), makeNode(ZONE), makeNode(ZONE)];
    for (const node of nodes) await r.register(node.entry, node.identity);
    let answerLate!: () => void;
    const late = new Promise<void>((resolve) => (answerLate = resolve));
    const dispatched: string[] = [];
    const router = new Router({
      registry: r,
      key: routerKey,
      address: self.address,
      messages: v0_1,
      timeoutMs: 200,
      maxAttempts: 2,
      dispatch: async (candidate) => {
        dispatched.push(candidate.entry.node_id);
        // The first answers "done" only after the route gave up on it; the second dies mid-task.
        if (dispatched.length === 1) return late.then(() => ({ ok: true as const, result: { done: true } }));
        throw new Error("connection reset by peer");
      },
    });
    const order = (await router.candidates({ task_id: "t-max" })).map((c) => c.entry.node_id);
    const error = (await router.route({ task_id: "t-max", action: "run" }).catch((e: unknown) => e)) as OnexError;
    answerLate();
    await late;
    expect(error.code).toBe(ErrorCode.NoRoute);
    expect(error.message).toMatch(/all 2 candidate\(s\) failed/);
    expect((error.details.fallback as FallbackProof[]).map((p) => [p.node_id, p.reason])).toEqual([
      [order[0], "timeout"],
      [order[1], "unreachable"],
    ]);
    expect(dispatched).toEqual(order.slice(0, 2));
  });

  it("refuses a failure attestation the node did not sign, and reports ONEX_E_NO_ROUTE with every attempt", async () => {
    const r = await registry("30s");
    const routerKey = generateKeyPair();
    const self = makeNode(ZONE, { key: routerKey });
    const a = makeNode(ZONE);
    const b = makeNode(ZONE);
    for (const node of [a, b]) await r.register(node.entry, node.identity);
    const forger = generateKeyPair();
    const router = new Router({
      registry: r,
      key: routerKey,
      address: self.address,
      messages: v0_1,
      timeoutMs: 300,
      dispatch: async (candidate, message) => {
        if (candidate.entry.node_id === a.identity.node_id) throw new Error("connection refused");
        const attestation = attestExecution({ task: message.payload as { task_id: string }, result: {}, node: b.identity.node_id, outcome: "failed", trustDelta: -1, verified: false, executionTime: 1 }, forger);
        return { ok: false, attestation };
      },
    });
    const error = (await router.route({ task_id: "t-2", action: "run" }).catch((e: unknown) => e)) as OnexError;
    expect(error.code).toBe(ErrorCode.NoRoute);
    const proofs = error.details.fallback as FallbackProof[];
    const byNode = new Map(proofs.map((p) => [p.node_id, p]));
    expect(byNode.get(a.identity.node_id)).toMatchObject({ reason: "unreachable", detail: "connection refused" });
    expect(byNode.get(b.identity.node_id)?.reason).toBe("failed");
    expect(byNode.get(b.identity.node_id)?.attestation).toBeUndefined();
    expect(byNode.get(b.identity.node_id)?.detail).toMatch(/attestation rejected/);

    const none = (await router.route({ task_id: "t-3", action: "run", zone: "zone.empty.org" }).catch((e: unknown) => e)) as OnexError;
    expect(none.code).toBe(ErrorCode.NoRoute);
    expect(none.details.fallback).toEqual([]);
  });
});
