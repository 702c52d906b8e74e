// An R3 stream on a three-node cluster loses the node that leads it, under load: no
// acknowledged message is lost, and publisher and subscriber fail over to the others. A
// subscription without a durable name loses the node its consumer leads, and hears on.
import { connect as natsConnect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { applyStreams, planStreams } from "../../runtime/jetstream/streams.js";
import { startNatsCluster, type NatsCluster } from "../support/nats-cluster.js";
import { client, makeKeys, stateUpdate } from "./fixtures.js";

const keys = makeKeys();
let cluster: NatsCluster;

/** A three-node cluster with the bundled streams at three replicas. */
async function clusterWithStreams(): Promise<NatsCluster> {
  const started = await startNatsCluster(3);
  const nc = await natsConnect({ servers: started.urls });
  const jsm = await jetstreamManager(nc);
  // Stream creation waits for the cluster to be able to place three replicas.
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await applyStreams(jsm, planStreams([v0_1, v0_2], { replicas: 3 }, { replicas: 3 }));
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  await nc.close();
  return started;
}

beforeAll(async () => {
  cluster = await clusterWithStreams();
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

describe("a three-node cluster losing a node", () => {
  it("keeps every acknowledged message of an R3 stream, and clients fail over", async () => {
    const publisher = await client(cluster.urls, keys.node, [keys.node]);
    const receiver = await client(cluster.urls, keys.agent, [keys.node]);
    const jsm = await publisher.manager();
    const leader = (await jsm.streams.info("ONEX_EVENT")).cluster?.leader;
    expect(cluster.nodes.map((n) => n.name)).toContain(leader);

    const total = 400;
    const acknowledged = new Set<string>();
    const publishing = (async () => {
      for (let i = 0; i < total; i++) {
        const msg = stateUpdate("n-cluster");
        await publisher.publish(msg, { retryForMs: 30_000, timeoutMs: 1_000 });
        acknowledged.add(msg.id);
      }
    })();
    while (acknowledged.size < total / 4) await new Promise((r) => setTimeout(r, 10));
    await cluster.nodes.find((n) => n.name === leader)!.kill();
    await publishing;

    const received = new Set<string>();
    const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-cluster", durable: "failover", ackWaitMs: 5_000 });
    for await (const d of sub) {
      received.add(d.message.id);
      await d.ack();
      if (received.size === acknowledged.size) break;
    }
    await sub.stop();
    expect([...acknowledged].filter((id) => !received.has(id))).toEqual([]);
    const newLeader = (await jsm.streams.info("ONEX_EVENT")).cluster?.leader;
    expect(newLeader).not.toBe(leader);
    await publisher.close();
    await receiver.close();
  }, 120_000);

  it("a subscription without a durable name hears on after the node leading its consumer dies", async () => {
    const own = await clusterWithStreams();
    const publisher = await client(own.urls, keys.node, [keys.node]);
    const receiver = await client(own.urls, keys.agent, [keys.node]);
    try {
      const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-ephemeral", ackWaitMs: 5_000 });
      const received: string[] = [];
      const reading = (async () => {
        for await (const d of sub) {
          received.push(d.message.id);
          await d.ack();
        }
      })();
      const before = stateUpdate("n-ephemeral");
      await publisher.publish(before, { retryForMs: 30_000 });
      while (!received.includes(before.id)) await new Promise((r) => setTimeout(r, 20));

      // The subscription's consumer is the stream's only one.
      const jsm = await publisher.manager();
      const consumers = [];
      for await (const c of jsm.consumers.list("ONEX_EVENT")) consumers.push(c);
      expect(consumers).toHaveLength(1);
      const host = consumers[0]!.cluster?.leader;
      await own.nodes.find((n) => n.name === host)!.kill();

      const after = stateUpdate("n-ephemeral");
      await publisher.publish(after, { retryForMs: 30_000, timeoutMs: 1_000 });
      // Without a copy of the consumer on another node, nothing published after the kill ever arrives.
      const deadline = Date.now() + 60_000;
      while (!received.includes(after.id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(received).toEqual([before.id, after.id]);
      await sub.stop();
      await reading;
    } finally {
      await publisher.close();
      await receiver.close();
      await own.stop();
    }
  }, 120_000);
});
