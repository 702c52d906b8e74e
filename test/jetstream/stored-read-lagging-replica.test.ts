/**
 * Reading a stream's history (`onex replay`, a subscription's replay window) on a cluster while a
 * replica of the stream lags: restarted, and catching up. nats-server places a reader's
 * one-replica consumer on any replica, and one made on a replica that lags starts after that
 * replica's last message and says nothing is left once it has sent what that replica holds.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readHistory } from "../../runtime/jetstream/history.js";
import { readStored } from "../../runtime/jetstream/stored-reader.js";
import { startClusterWithClient, type ClusterWithClient } from "../support/nats-cluster.js";

let own: ClusterWithClient;
beforeAll(async () => {
  own = await startClusterWithClient();
}, 60_000);
afterAll(() => own?.stop());

const READS = 12;

describe("reading a stream's history while a replica lags", () => {
  it("reads what was asked for, all of it, from a sequence or a time, with a filter or without", async () => {
    const stream = "LAGGING";
    for (let tries = 0; ; tries++) {
      try {
        await own.jsm.streams.add({ name: stream, subjects: ["lag.>"], num_replicas: 3 });
        break;
      } catch (error) {
        if (tries === 60) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    const bytes = new Uint8Array(1024);
    const publish = async (subject: string, count: number) => {
      const seqs: number[] = [];
      for (let i = 0; i < count; i += 500) seqs.push(...(await Promise.all(Array.from({ length: Math.min(500, count - i) }, () => own.js.publish(subject, bytes)))).map((a) => a.seq));
      return seqs;
    };
    const before = await publish("lag.a", 100);
    // A follower down while 20,000 messages are stored: it takes a while to catch up. Not the
    // node this test's connection is on, whose publishes would wait on the reconnection.
    const leader = (await own.jsm.streams.info(stream)).cluster!.leader;
    const lagging = own.cluster.nodes.find((n) => n.name !== leader && n.name !== own.nc.info?.server_name)!;
    await lagging.stop();
    await publish("lag.b", 20_000);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const time = new Date();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const after = await publish("lag.a", 100);
    const upTo = (await own.jsm.streams.info(stream)).state.last_seq;
    await lagging.start();

    // Read at once, each on its own consumer: one in three on the replica catching up.
    const history = (options: Parameters<typeof readHistory>[3]) => async () => {
      const seqs: number[] = [];
      for await (const entry of readHistory(own.js, own.jsm, stream, options)) seqs.push(entry.sequence);
      return seqs;
    };
    const stored = (from: { sequence: number } | { time: Date }) => async () => {
      const seqs: number[] = [];
      for await (const msg of readStored(own.js, own.jsm, stream, { filter: "lag.a", from, upTo })) seqs.push(msg.seq);
      return seqs;
    };
    const cases = [
      { read: history({ fromSequence: after[0]! }), expected: after },
      { read: history({ fromTime: time }), expected: after },
      { read: stored({ time }), expected: after },
      { read: stored({ sequence: 1 }), expected: [...before, ...after] },
    ];
    const results = await Promise.all(cases.flatMap((c) => Array.from({ length: READS }, () => c.read())));
    expect(results).toEqual(cases.flatMap((c) => Array.from({ length: READS }, () => c.expected)));
  }, 180_000);
});
