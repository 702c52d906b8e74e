/**
 * The registry's services are generic over a version's generated SDK: the health watcher and
 * the router look their message types up by type in the SDK they are given, place their
 * source where that version's generated envelope layout says, and build the payload shape
 * that version has — v0.2's `event.node.failed` carries its reason as `{message, code}` and
 * its `event.node.register` the build as an object; v0.0.9's envelope is flat and its
 * `signal.task.dispatch` has no priority. An SDK without a needed type is refused up front.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_0_9 from "../../generated/v0.0.9/index.js";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import type { ControlPlane, Delivery } from "../../runtime/control-plane.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { HealthWatcher } from "../../runtime/registry/health-watcher.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { Registry } from "../../runtime/registry/registry.js";
import { Router, type DispatchTransport } from "../../runtime/registry/router.js";
import { Swarm } from "../../runtime/dataplane/swarm.js";
import type { ServiceSdk } from "../../runtime/service-messages.js";
import type { Envelope } from "../../runtime/trust/envelope.js";
import { generateKeyPair, keyRing, type KeyPair } from "../../runtime/trust/keys.js";
import { verifyMessage } from "../../runtime/trust/sign-message.js";
import { applyBundledStreams, client as controlPlaneClient } from "../jetstream/fixtures.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { eventually, makeNode } from "./fixtures.js";

const ZONE = "zone.trusted.org";
let server: NatsServer;
let n = 0;
const open: Registry[] = [];
const clients: OnexClient[] = [];
const registry = async (ttl = "2s") => {
  const r = await openRegistry(`${server.url}?bucket=anyversion${process.pid}x${++n}&ttl=${ttl}`, { onTampered: () => undefined });
  open.push(r);
  return r;
};

beforeAll(async () => {
  server = await startNatsServer();
  await applyBundledStreams(server.url);
});
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()));
  await Promise.all(clients.map((c) => c.close()));
  await server?.stop();
});

type AnySdk = typeof v0_0_9 | typeof v0_2;

/** Runs a watcher announcing in `sdk` until a node has failed and another joined; returns what it published, as read back from the stream. */
async function announcementsIn(sdk: AnySdk, level?: string) {
  const r = await registry("2s");
  const key: KeyPair = generateKeyPair();
  const self = makeNode(ZONE, { key });
  const client = await controlPlaneClient(server.url, key, [key]);
  clients.push(client);
  const errors: unknown[] = [];
  const watcher = new HealthWatcher({ registry: r, key, address: self.address, messages: sdk, client, ...(level ? { level } : {}), onError: (e) => errors.push(e) });
  const announced: Delivery<object>[] = [];
  const subscription = await client.subscribe([sdk.NodeFailed, sdk.NodeRegister] as never, { zone: ZONE, entityType: "node", entityId: self.identity.node_id, deliver: "all" });
  const reading = (async () => {
    for await (const delivery of subscription) {
      announced.push(delivery as Delivery<object>);
      await delivery.ack();
    }
  })();
  watcher.start();
  const dying = makeNode(ZONE);
  await r.register(dying.entry, dying.identity);
  const typeOf = (d: Delivery<object>) => (d.message as { type: string }).type;
  try {
    await eventually(async () => announced.some((d) => typeOf(d) === "event.node.failed") || errors.length > 0, 20_000, "event.node.failed");
  } finally {
    await watcher.stop();
    await subscription.stop();
    await reading;
  }
  expect(errors).toEqual([]);
  const failed = announced.find((d) => typeOf(d) === "event.node.failed")!;
  const joined = announced.find((d) => typeOf(d) === "event.node.register")!;
  expect(failed.signer).toBe(key.keyId);
  return { self, dying, failed: failed.message as Record<string, unknown>, joined: joined.message as Record<string, unknown> };
}

describe("health watcher in any version", () => {
  it("publishes v0.2's event.node.failed with a structured reason and event.node.register with a build object", async () => {
    const { self, dying, failed, joined } = await announcementsIn(v0_2);
    expect(failed).toBeInstanceOf(v0_2.NodeFailed);
    const reason = (failed as unknown as v0_2.NodeFailed).payload.reason;
    expect(reason.code).toBe("heartbeat_lapsed");
    expect(reason.message).toMatch(/no heartbeat within the registry TTL/);
    expect((failed as unknown as v0_2.NodeFailed).payload.node_id).toBe(dying.identity.node_id);
    expect((failed as unknown as v0_2.NodeFailed).source).toEqual({ zone: ZONE, entity_type: "node", entity_id: self.identity.node_id });
    expect((joined as unknown as v0_2.NodeRegister).payload.build).toEqual({ fingerprint: dying.identity.build_fingerprint, version: "unknown" });
    expect((joined as unknown as v0_2.NodeRegister).protocol.version).toBe("0.2");
  }, 60_000);

  it("publishes v0.0.9's flat envelope, with the source where v0.0.9's layout puts it", async () => {
    const { self, dying, failed } = await announcementsIn(v0_0_9, "high");
    const message = failed as unknown as v0_0_9.NodeFailed;
    expect(message).toBeInstanceOf(v0_0_9.NodeFailed);
    expect([message.zone, message.entity_type, message.entity_id]).toEqual([ZONE, "node", self.identity.node_id]);
    expect(message.protocol_version).toBe("0.0.9");
    expect(typeof message.payload.reason).toBe("string");
    expect(message.payload.node_id).toBe(dying.identity.node_id);
  }, 60_000);

  it("refuses an SDK without the message types it announces with ONEX_E_SDK_MISMATCH", () => {
    const { "event.node.failed": _dropped, ...rest } = v0_2.messageClasses as Record<string, unknown>;
    const partial = { ...v0_2, messageClasses: rest } as unknown as ServiceSdk;
    void _dropped;
    const attempt = () => new HealthWatcher({ registry: {} as Registry, key: generateKeyPair(), address: `onex://${ZONE}/node/w-1`, messages: partial, client: {} as ControlPlane });
    expect(attempt).toThrowError(expect.objectContaining({ code: ErrorCode.SdkMismatch, details: expect.objectContaining({ type: "event.node.failed", version: "0.2" }) }));
  });
});

describe("router in any version", () => {
  async function routeIn(sdk: AnySdk | typeof v0_1, level?: string) {
    const r = await registry("30s");
    const routerKey = generateKeyPair();
    const self = makeNode(ZONE, { key: routerKey });
    const worker = makeNode(ZONE, { capabilities: ["gpu"] });
    await r.register(worker.entry, worker.identity);
    const received: Envelope[] = [];
    const dispatch: DispatchTransport = async (_candidate, message) => {
      received.push(message);
      return { ok: true };
    };
    const router = new Router({ registry: r, key: routerKey, address: self.address, messages: sdk, dispatch, ...(level ? { level } : {}) });
    const routed = await router.route({ task_id: "t-any", action: "render", capability: "gpu", priority: 7 });
    expect(received).toHaveLength(1);
    expect(verifyMessage(routed.message, { keys: keyRing([routerKey.publicKey]), zone: ZONE }).keyId).toBe(routerKey.keyId);
    return { worker, self, message: routed.message };
  }

  it("dispatches v0.2's signal.task.dispatch: a list of targets and an operation", async () => {
    const { worker, self, message } = await routeIn(v0_2);
    const parsed = v0_2.TaskDispatch.parse(message);
    expect(parsed.payload).toMatchObject({ task_id: "t-any", targets: [worker.identity.node_id], operation: "render", priority: 7 });
    expect(parsed.source.entity_id).toBe(self.identity.node_id);
  });

  it("dispatches v0.0.9's signal.task.dispatch: flat source, one target, no priority", async () => {
    const { worker, self, message } = await routeIn(v0_0_9, "high");
    const parsed = v0_0_9.TaskDispatch.parse(message);
    expect(parsed.payload).toEqual({ task_id: "t-any", target: worker.identity.node_id, action: "render" });
    expect([parsed.zone, parsed.entity_id]).toEqual([ZONE, self.identity.node_id]);
  });

  it("still dispatches v0.1's payload with its priority", async () => {
    const { message } = await routeIn(v0_1);
    expect(v0_1.TaskDispatch.parse(message).payload).toMatchObject({ action: "render", priority: 7 });
  });

  it("refuses an SDK without signal.task.dispatch, and a trust level the version does not have", async () => {
    const { "signal.task.dispatch": _dropped, ...rest } = v0_2.messageClasses as Record<string, unknown>;
    void _dropped;
    const partial = { ...v0_2, messageClasses: rest } as unknown as ServiceSdk;
    expect(() => new Router({ registry: {} as Registry, key: generateKeyPair(), address: `onex://${ZONE}/node/r-1`, messages: partial, dispatch: async () => ({ ok: true }) })).toThrowError(
      expect.objectContaining({ code: ErrorCode.SdkMismatch, details: expect.objectContaining({ type: "signal.task.dispatch" }) }),
    );
    // v0.0.9 has no "verified" level: the envelope is at fault, and the validation error says so.
    const error = await routeIn(v0_0_9).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OnexError);
    expect((error as OnexError).code).toBe(ErrorCode.ValidationFailed);
    expect(String((error as OnexError).details.instancePath)).toMatch(/^\/trust\/level/);
  });
});

describe("swarm in any version", () => {
  it("refuses an SDK without the artifact message types (v0.1) with ONEX_E_SDK_MISMATCH", async () => {
    const error = await Swarm.join({ client: {} as ControlPlane, messages: v0_1, peerId: "p-1", zone: ZONE, endpoint: "http://127.0.0.1:1", signer: "k", publishers: [] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.SdkMismatch, details: { type: "event.artifact.announced", version: "0.1" } });
  });
});
