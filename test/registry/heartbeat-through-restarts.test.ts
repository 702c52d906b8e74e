/**
 * `onex registry register --heartbeat`, as its own process, keeps a node alive while the
 * registry's server is killed and restarted under it (NATS KV and etcd). A health watcher
 * in the test process follows the zone and publishes on a control plane of its own (a
 * second nats-server that stays up); no `event.node.failed` may be published for the
 * heart-beating node. A node registered after the restart and left to lapse is the
 * barrier: its failure is announced after any announcement about the outage would have
 * been, so the test waits on an event, not on a clock.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { HealthWatcher } from "../../runtime/registry/health-watcher.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { applyBundledStreams, client as controlPlaneClient } from "../jetstream/fixtures.js";
import { startEtcdServer } from "../support/etcd-server.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import type { ServerProcess } from "../support/server-process.js";
import { startCli } from "../support/cli-process.js";
import { eventually, makeNode } from "./fixtures.js";

const ZONE = "zone.trusted.org";
let controlPlane: NatsServer;
const clients: OnexClient[] = [];

beforeAll(async () => {
  controlPlane = await startNatsServer();
  await applyBundledStreams(controlPlane.url);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await controlPlane?.stop();
});

async function survivesRestart(server: ServerProcess, url: string): Promise<void> {
  const watcherRegistry = await openRegistry(url, { onTampered: () => undefined, logger: { warn() {} } });
  const watcherKey = generateKeyPair();
  const self = makeNode(ZONE, { key: watcherKey });
  const client = await controlPlaneClient(controlPlane.url, watcherKey, [watcherKey]);
  clients.push(client);
  const failed: string[] = [];
  const subscription = await client.subscribe([v0_1.NodeFailed], { zone: ZONE, entityType: "node", entityId: self.identity.node_id, deliver: "new" });
  const reading = (async () => {
    for await (const delivery of subscription) {
      failed.push(delivery.message.payload.node_id);
      await delivery.ack();
    }
  })();
  const watcher = new HealthWatcher({ registry: watcherRegistry, key: watcherKey, address: self.address, messages: v0_1, client });

  const node = makeNode(ZONE);
  const cli = startCli(["registry", "register", "-", "--heartbeat", "--registry", url], { input: JSON.stringify({ entry: node.entry, identity: node.identity }) });
  try {
    await eventually(async () => cli.stdout().includes(node.address) || cli.child.exitCode !== null, 20_000, "the registration");
    expect(cli.child.exitCode).toBeNull();
    watcher.start();

    await server.kill();
    // Down until the heart-beating process has felt it: it logged a failed heartbeat (or, as it used to, exited).
    await eventually(async () => /heartbeat of .* failed/.test(cli.stderr()) || cli.child.exitCode !== null, 30_000, "a failed heartbeat");
    await server.restart();
    await eventually(async () => /restored/.test(cli.stderr()) || cli.child.exitCode !== null, 30_000, "the heartbeat to recover");

    const sentinel = makeNode(ZONE);
    await eventually(async () => watcherRegistry.register(sentinel.entry, sentinel.identity).then(() => true, () => false), 20_000, "the registry to answer");
    await eventually(async () => failed.includes(sentinel.identity.node_id), 60_000, "the sentinel's event.node.failed");

    expect(failed).toEqual([sentinel.identity.node_id]);
    expect(cli.child.exitCode).toBeNull();
    expect(cli.stderr()).toMatch(/heartbeat of .* failed \(attempt 1, ONEX_E_REGISTRY_UNAVAILABLE/);
  } finally {
    cli.child.kill("SIGINT");
    const code = await cli.exited;
    await watcher.stop();
    await subscription.stop();
    await reading;
    await watcherRegistry.close();
    expect(code).toBe(0);
  }
}

describe("onex registry register --heartbeat through a server restart", () => {
  it("NATS KV: retries, logs each failure, and the node is never reported failed", async () => {
    const server = await startNatsServer();
    try {
      await survivesRestart(server, `${server.url}?bucket=beat${process.pid}&ttl=8s`);
    } finally {
      await server.stop();
    }
  }, 120_000);

  it("etcd: retries, logs each failure, and the node is never reported failed", async () => {
    const server = await startEtcdServer();
    try {
      await survivesRestart(server, `${server.url}?prefix=/beat${process.pid}/&ttl=8s`);
    } finally {
      await server.stop();
    }
  }, 120_000);
});
