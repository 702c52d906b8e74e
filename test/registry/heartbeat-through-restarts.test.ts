/**
 * `onex registry register --heartbeat`, as its own process, keeps a node alive while the
 * registry's server is killed and restarted under it (NATS KV and etcd), while a node
 * of a three-node NATS cluster with an R3 bucket is killed (the bucket's leader, or the one
 * holding the health watcher's watch), and while each member of a three-member etcd cluster
 * in turn is down for longer than the TTL. A health watcher
 * in the test process follows the zone and publishes on a control plane of its own (a
 * second nats-server that stays up); no `event.node.failed` may be published for the
 * heart-beating node. A node registered after the restart, kept alive until the watcher
 * announces it joined, then left to lapse is the barrier: its failure is announced after any
 * announcement about the outage would have been, so the test waits on an event, not on a clock.
 */
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { HealthWatcher } from "../../runtime/registry/health-watcher.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { applyBundledStreams, client as controlPlaneClient } from "../jetstream/fixtures.js";
import { startEtcdCluster } from "../support/etcd-cluster.js";
import { startEtcdServer } from "../support/etcd-server.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import type { ServerProcess } from "../support/server-process.js";
import { startCli, type CliProcess } from "../support/cli-process.js";
import { startNatsCluster } from "../support/nats-cluster.js";
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

/** Kills and restarts `server` once the heart-beating process has felt it (logged a failed heartbeat, or, as it used to, exited). */
function restartOf(server: ServerProcess) {
  return async (cli: CliProcess) => {
    await server.kill();
    await eventually(async () => /heartbeat of .* failed/.test(cli.stderr()) || cli.child.exitCode !== null, 30_000, "a failed heartbeat");
    await server.restart();
    await eventually(async () => /restored/.test(cli.stderr()) || cli.child.exitCode !== null, 30_000, "the heartbeat to recover");
  };
}

/** Runs `disrupt` under a node heart-beating through `onex registry register --heartbeat`, and checks that no failure is announced for it. */
async function survives(url: string, disrupt: (cli: CliProcess) => Promise<void>): Promise<CliProcess> {
  const watcherRegistry = await openRegistry(url, { onTampered: () => undefined, logger: { warn() {} } });
  const watcherKey = generateKeyPair();
  const self = makeNode(ZONE, { key: watcherKey });
  const client = await controlPlaneClient(controlPlane.url, watcherKey, [watcherKey]);
  clients.push(client);
  const failed: string[] = [];
  const joined: string[] = [];
  const subscription = await client.subscribe([v0_1.NodeFailed, v0_1.NodeRegister], { zone: ZONE, entityType: "node", entityId: self.identity.node_id, deliver: "new" });
  const reading = (async () => {
    for await (const delivery of subscription) {
      (delivery.message instanceof v0_1.NodeFailed ? failed : joined).push(delivery.message.payload.node_id);
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

    await disrupt(cli);

    // Registered again every 2 s until the watcher says it joined: while the watch is still being
    // resumed on a live node, a node that registers and lapses leaves nothing in the bucket to
    // see (max age removes its value without a marker), and no failure would ever be announced.
    const sentinel = makeNode(ZONE);
    let registeredAt = 0;
    await eventually(
      async () => {
        if (Date.now() - registeredAt > 2_000 && (await watcherRegistry.register(sentinel.entry, sentinel.identity).then(() => true, () => false))) registeredAt = Date.now();
        return joined.includes(sentinel.identity.node_id);
      },
      60_000,
      "the sentinel's event.node.register",
    );
    await eventually(async () => failed.includes(sentinel.identity.node_id), 60_000, "the sentinel's event.node.failed");

    expect(failed).toEqual([sentinel.identity.node_id]);
    expect(cli.child.exitCode).toBeNull();
    return cli;
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
      const cli = await survives(`${server.url}?bucket=beat${process.pid}&ttl=8s`, restartOf(server));
      expect(cli.stderr()).toMatch(/heartbeat of .* failed \(attempt 1, ONEX_E_REGISTRY_UNAVAILABLE/);
    } finally {
      await server.stop();
    }
  }, 120_000);

  it("etcd: retries, logs each failure, and the node is never reported failed", async () => {
    const server = await startEtcdServer();
    try {
      const cli = await survives(`${server.url}?prefix=/beat${process.pid}/&ttl=8s`, restartOf(server));
      expect(cli.stderr()).toMatch(/heartbeat of .* failed \(attempt 1, ONEX_E_REGISTRY_UNAVAILABLE/);
    } finally {
      await server.stop();
    }
  }, 120_000);

  it("etcd on a three-member cluster: each member in turn, the leader first, is down for longer than the TTL, and the node is never reported failed", async () => {
    const cluster = await startEtcdCluster(3);
    const ttlMs = 10_000;
    try {
      await survives(`${cluster.url}?prefix=/beat${process.pid}/&ttl=${ttlMs / 1_000}s`, async () => {
        const leader = await cluster.leader();
        expect(leader, "a leader").toBeDefined();
        for (const member of [leader!, ...cluster.members.filter((m) => m !== leader)]) {
          await member.kill();
          await eventually(async () => (await cluster.leader()) !== undefined, 30_000, `a leader while ${member.name} is down`);
          // Down for longer than an entry lives unrenewed: a heartbeat or a watch that stayed with
          // this member instead of moving to another would have the node reported failed.
          await new Promise((resolve) => setTimeout(resolve, ttlMs + 2_000));
          await member.restart();
        }
      });
    } finally {
      await cluster.stop();
    }
  }, 240_000);

  it("NATS KV on a three-node cluster: the leader of the bucket is killed, a new one elected, and the node is never reported failed", async () => {
    await onCluster("c", async (jsm, bucket) => (await jsm.streams.info(`KV_${bucket}`)).cluster?.leader);
  }, 180_000);

  it("NATS KV on a three-node cluster: the node holding the health watcher's watch is killed, the watch resumes on another, and the node is never reported failed", async () => {
    await onCluster("w", async (jsm, bucket) => {
      // The watch's consumer is the bucket's only one (the heartbeat reads through the leader), made as the watcher starts.
      let host: string | undefined;
      await eventually(async () => {
        for await (const consumer of jsm.consumers.list(`KV_${bucket}`)) host = consumer.cluster?.leader;
        return host !== undefined;
      }, 20_000, "the watch's consumer");
      return host;
    });
  }, 180_000);
});

/**
 * Runs `survives` on a three-node cluster with an R3 bucket, killing the node `victim` names
 * once the node heart-beats, and waiting until the bucket has a leader on another node.
 */
async function onCluster(suffix: string, victim: (jsm: JetStreamManager, bucket: string) => Promise<string | undefined>): Promise<void> {
  const cluster = await startNatsCluster(3);
  const bucket = `beat${process.pid}${suffix}`;
  // A longer TTL than the single-server cases: electing a new leader takes seconds more on a busy machine.
  const url = `nats://${cluster.urls.map((u) => u.replace("nats://", "")).join(",")}?bucket=${bucket}&ttl=15s&replicas=3`;
  const nc = await natsConnect({ servers: cluster.urls });
  try {
    // The bucket can be created once the cluster can place three replicas: on a busy machine the
    // cluster's first elections can take most of a minute. The last refusal is kept for the failure.
    let refused = "";
    const created = () =>
      openRegistry(url).then(
        (r) => r.close().then(() => true),
        (error: Error) => ((refused = error.message), false),
      );
    await eventually(created, 60_000, "an R3 bucket").catch((error: Error) => {
      throw new Error(`${error.message}; the last attempt: ${refused}`);
    });
    const jsm = await jetstreamManager(nc);
    await survives(url, async () => {
      const name = await victim(jsm, bucket);
      const node = cluster.nodes.find((n) => n.name === name);
      expect(node, `a node named ${name}`).toBeDefined();
      await node!.kill();
      await eventually(async () => {
        const now = await jsm.streams.info(`KV_${bucket}`).catch(() => undefined);
        return now?.cluster?.leader !== undefined && now.cluster.leader !== name;
      }, 30_000, "a leader of the bucket on a live node");
    });
  } finally {
    await nc.close();
    await cluster.stop();
  }
}
