// A one-replica stream on a three-node cluster whose node loses its store (a disk replaced
// during a rolling upgrade): the cluster makes the stream again, empty, and numbers new
// messages from 1. A durable subscription that lives through it delivers every message
// published afterwards, though their sequences are those of messages it acknowledged before.
import { connect as natsConnect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { applyStreams, planStreams } from "../../runtime/jetstream/streams.js";
import { startNatsCluster, type NatsCluster } from "../support/nats-cluster.js";
import { eventually } from "../registry/fixtures.js";
import { client, makeKeys, stateUpdate } from "./fixtures.js";

const keys = makeKeys();
let cluster: NatsCluster | undefined;
afterAll(async () => {
  await cluster?.stop();
});

describe("a durable subscription through its R1 stream's store lost", () => {
  it("delivers the messages stored after, at sequences it had acknowledged before", async () => {
    cluster = await startNatsCluster(3);
    const nc = await natsConnect({ servers: cluster.urls });
    const jsm = await jetstreamManager(nc, { timeout: 30_000 });
    const publisher = await client(cluster.urls, keys.node, [keys.node]);
    const receiver = await client(cluster.urls, keys.agent, [keys.node]);
    try {
      await eventually(async () => applyStreams(jsm, planStreams([v0_1, v0_2])).then(() => true, () => false), 60_000, "the streams");
      const received: string[] = [];
      const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-lost", durable: "store-lost", ackWaitMs: 5_000 });
      const reading = (async () => {
        for await (const d of sub) {
          received.push(d.message.id);
          await d.ack();
        }
      })();
      const before = Array.from({ length: 5 }, () => stateUpdate("n-lost"));
      await publisher.publishMany(before);
      await eventually(async () => received.length === before.length, 30_000, "the messages before");

      const leader = (await jsm.streams.info("ONEX_EVENT")).cluster!.leader;
      const node = cluster.nodes.find((n) => n.name === leader)!;
      await node.kill();
      await node.wipe();
      await node.start();

      // Published once the stream is back: sequences 1 to 5 again.
      const after = Array.from({ length: 5 }, () => stateUpdate("n-lost"));
      const receipts = await publisher.publishMany(after, { retryForMs: 90_000 });
      expect(receipts.map((r) => r.sequence)).toEqual([1, 2, 3, 4, 5]);
      // Before, each was taken for the redelivery of the message acknowledged at its sequence, and acknowledged unseen.
      await eventually(async () => after.every((m) => received.includes(m.id)), 30_000, "the messages after").catch(() => undefined);
      expect(received).toEqual([...before, ...after].map((m) => m.id));
      await sub.stop();
      await reading;
    } finally {
      await Promise.all([publisher.close(), receiver.close(), nc.close()]);
    }
  }, 180_000);
});
