/**
 * Health announcements and routing over a real registry (NATS KV on a test nats-server).
 * `announce` and `dispatch` are in-process functions here: they stand where a deployment
 * wires the JetStream client and request/reply; what is tested is what the registry side
 * decides and signs.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import { HealthWatcher } from "../../runtime/registry/health-watcher.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { Registry } from "../../runtime/registry/registry.js";
import { Router, type DispatchTransport, type FallbackProof } from "../../runtime/registry/router.js";
import { attestExecution } from "../../runtime/trust/attestation.js";
import type { Envelope } from "../../runtime/trust/envelope.js";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import { signMessage, verifyMessage } from "../../runtime/trust/sign-message.js";
import { TrustLedger } from "../../runtime/trust/trust-ledger.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { eventually, makeNode } from "./fixtures.js";

const ZONE = "zone.trusted.org";
let server: NatsServer;
let n = 0;
const open: Registry[] = [];
const registry = async (ttl = "2s") => {
  const r = await openRegistry(`${server.url}?bucket=health${process.pid}x${++n}&ttl=${ttl}`);
  open.push(r);
  return r;
};

beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()));
  await server?.stop();
});

describe("health watcher", () => {
  it("announces a dead node once, signed by the watcher, and a joining node", async () => {
    const r = await registry("2s");
    const watcherKey = generateKeyPair();
    const watcher = makeNode(ZONE, { key: watcherKey });
    const announced: Envelope[] = [];
    const health = new HealthWatcher({ registry: r, key: watcherKey, address: watcher.address, messages: v0_1, announce: (m) => void announced.push(signMessage(m, watcherKey)) });
    const present = makeNode(ZONE);
    await r.register(present.entry, present.identity);
    health.start();
    const dying = makeNode(ZONE);
    await r.register(dying.entry, dying.identity);
    const beat = setInterval(() => void r.heartbeat(present.address).catch(() => undefined), 400);
    try {
      await eventually(async () => announced.some((m) => m.type === "event.node.failed"), 20_000, "event.node.failed");
      // Another TTL's worth of watching: still one failure, and only for the node that died.
      await new Promise((resolve) => setTimeout(resolve, r.ttlMs + 500));
    } finally {
      clearInterval(beat);
      await health.stop();
    }
    const failed = announced.filter((m) => m.type === "event.node.failed");
    expect(failed).toHaveLength(1);
    expect((failed[0]!.payload as { node_id: string }).node_id).toBe(dying.identity.node_id);
    const joined = announced.filter((m) => m.type === "event.node.register");
    // The node present before the watcher started is state, not a join.
    expect(joined.map((m) => (m.payload as { node_id: string }).node_id)).toEqual([dying.identity.node_id]);
    for (const m of announced) {
      // Valid v0.1 messages, signed by the watcher's key, from the watcher's address.
      expect(() => v0_1.parseMessage(m)).not.toThrow();
      expect(verifyMessage(m, { keys: keyRing([watcherKey.publicKey]), zone: ZONE }).keyId).toBe(watcherKey.keyId);
      expect(m.source).toEqual({ zone: ZONE, entity_type: "node", entity_id: watcher.identity.node_id });
    }
    expect((joined[0]!.payload as { build_fingerprint: string }).build_fingerprint).toBe(dying.identity.build_fingerprint);
  }, 60_000);
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
