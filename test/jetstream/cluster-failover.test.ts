// An R3 stream on a three-node cluster loses the node that leads it, under load: no
// acknowledged message is lost, and publisher and subscriber fail over to the others.
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

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  const nc = await natsConnect({ servers: cluster.urls });
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
});
