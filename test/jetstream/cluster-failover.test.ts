// An R3 stream on a three-node cluster loses the node that leads it, under load: no
// acknowledged message is lost, and publisher and subscriber fail over to the others. A
// subscription without a durable name loses the node its consumer leads, and hears on (its
// consumer has every node's copy even when opened while the cluster answers nothing); so
// do the readers of stored messages (`onex replay`, a subscription's replay window) mid-read,
// and `onex dlq list` while the dead-letter stream elects a new leader.
import { connect as natsConnect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { deadLetterSubject, listDeadLetters } from "../../runtime/jetstream/dead-letter.js";
import { readHistory } from "../../runtime/jetstream/history.js";
import { applyStreams, planStreams } from "../../runtime/jetstream/streams.js";
import { withRetry } from "../../runtime/jetstream/with-retry.js";
import { StoredMessageReplay } from "../../runtime/receive/stored-message-replay.js";
import { ReplayGuard } from "../../runtime/trust/replay-guard.js";
import { startNatsCluster, type NatsCluster } from "../support/nats-cluster.js";
import { client, makeKeys, stateUpdate, ZONE } from "./fixtures.js";

const keys = makeKeys();
let cluster: NatsCluster;

/** A three-node cluster with the bundled streams at three replicas. */
async function clusterWithStreams(): Promise<NatsCluster> {
  const started = await startNatsCluster(3);
  const nc = await natsConnect({ servers: started.urls });
  // Stream creation waits for the cluster to be able to place three replicas (on a loaded host,
  // even the account's JetStream info can go unanswered for a while after the first leader; a full
  // CI run once took more than 30 s to place them).
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await applyStreams(await jetstreamManager(nc), planStreams([v0_1, v0_2], { replicas: 3 }, { replicas: 3 }));
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
}, 90_000);

afterAll(async () => {
  await cluster?.stop();
});

describe("close() while publishes to an R3 stream wait for their acknowledgements", () => {
  it("waits for them: each publish resolves with its receipt, and the stream holds each message once", async () => {
    const manager = await client(cluster.urls, keys.node, [keys.node]);
    const leaderName = (await (await manager.manager()).streams.info("ONEX_EVENT")).cluster?.leader;
    await manager.close();
    const leader = cluster.nodes.find((n) => n.name === leaderName)!;
    const followers = cluster.nodes.filter((n) => n !== leader);
    const publisher = await client(leader.url, keys.node, [keys.node]);
    const messages = Array.from({ length: 20 }, () => stateUpdate("n-close-acks"));
    // The stream's replicas paused: the leader acknowledges a message once a replica holds it,
    // so every publish is sent and waits when close() is called. The drain unsubscribed the
    // inbox the acknowledgements come to at once, and close() was over before they came.
    for (const f of followers) f.process.kill("SIGSTOP");
    let closing: Promise<string> | undefined;
    let publishing: Promise<(number | string | undefined)[]> | undefined;
    try {
      publishing = Promise.all(
        messages.map((m) =>
          publisher.publish(m).then(
            (receipt) => receipt.sequence,
            (error: unknown) => (error as { code?: string }).code,
          ),
        ),
      );
      closing = publisher.close().then(() => "closed");
      // Resumed while close() waits for them (it waits up to 5 s), or once it is over.
      await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 1_000))]);
    } finally {
      for (const f of followers) f.process.kill("SIGCONT");
    }
    await closing;
    const outcomes = await publishing;
    expect(outcomes.filter((o) => typeof o !== "number")).toEqual([]);
    const nc = await natsConnect({ servers: cluster.urls });
    try {
      const info = await (await jetstreamManager(nc)).streams.info("ONEX_EVENT", { subjects_filter: messages[0]!.subject() });
      expect(info.state.subjects?.[messages[0]!.subject()]).toBe(messages.length);
    } finally {
      await nc.close();
    }
  });
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

  it("a subscription without a durable name, opened while the cluster answers nothing for 6 s, has its consumer on every node of its stream", async () => {
    const own = await clusterWithStreams();
    const receiver = await client(own.urls, keys.agent, [keys.node]);
    const answer = () => own.nodes.forEach((n) => n.process.kill("SIGCONT"));
    try {
      // Longer than one request waits: the stream's info, read for its replicas, goes unanswered at first.
      own.nodes.forEach((n) => n.process.kill("SIGSTOP"));
      const resume = setTimeout(answer, 6_000);
      const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-unanswered" }).finally(() => {
        clearTimeout(resume);
        answer();
      });
      // Asked of the consumer itself, through the elections the pause set off: a clustered
      // consumer list leaves out a consumer whose leader has not answered yet.
      const jsm = await receiver.manager();
      const info = await withRetry(() => jsm.consumers.info(sub.stream, sub.consumer));
      await sub.stop();
      expect([info.stream_name, info.config.num_replicas]).toEqual(["ONEX_EVENT", 3]);
    } finally {
      answer();
      await receiver.close();
      await own.stop();
    }
  }, 120_000);

  it("onex streams apply and onex dlq list wait out a cluster without a meta leader (JetStream system temporarily unavailable)", async () => {
    const own = await clusterWithStreams();
    const [lone, ...others] = own.nodes;
    const nc = await natsConnect({ servers: lone!.url });
    const answer = () => others.forEach((n) => n.process.kill("SIGCONT"));
    try {
      const jsm = await jetstreamManager(nc);
      // Two of three nodes stopped: the one left has no quorum, and says so once it notices (a
      // stream's creation is asked until it does; it goes unanswered until then).
      others.forEach((n) => n.process.kill("SIGSTOP"));
      const leaderless = async () => {
        for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
          const said = await jsm.streams.add({ name: "PROBE", subjects: ["probe.>"], num_replicas: 3 }).then(
            () => "",
            (e: unknown) => String((e as Error).message),
          );
          if (/temporarily unavailable/i.test(said)) return said;
          await new Promise((r) => setTimeout(r, 250));
        }
        return "never leaderless";
      };
      expect(await leaderless()).toMatch(/temporarily unavailable/i);
      const resume = setTimeout(answer, 1_000);
      const settled = await Promise.allSettled([applyStreams(jsm, planStreams([v0_1, v0_2], { replicas: 3 }, { replicas: 3 })), listDeadLetters(jsm)]).finally(() => clearTimeout(resume));
      expect(settled.map((s) => (s.status === "rejected" ? String(s.reason) : s.status))).toEqual(["fulfilled", "fulfilled"]);
    } finally {
      answer();
      await nc.close();
      await own.stop();
    }
  }, 120_000);

  it("onex replay's reader reads every stored message once when the node holding its consumer dies mid-read", async () => {
    const own = await clusterWithStreams();
    const publisher = await client(own.urls, keys.node, [keys.node]);
    try {
      const receipts = await publisher.publishMany(Array.from({ length: 3_000 }, () => stateUpdate("n-history")));
      const stored = receipts.map((r) => r.sequence);
      const jsm = await publisher.manager();
      const read: number[] = [];
      for await (const entry of readHistory(publisher.js, jsm, "ONEX_EVENT", {})) {
        read.push(entry.sequence);
        // Mid-read, with the reader paused: the node leading its consumer dies.
        if (read.length === 500) {
          const host = await readerHost(jsm);
          await own.nodes.find((n) => n.name === host)!.kill();
        }
      }
      expect(read).toEqual(stored);
    } finally {
      await publisher.close();
      await own.stop();
    }
  }, 120_000);

  it("a subscription with a replay guard opens, having read its whole replay window, when the node holding the reading consumer dies", async () => {
    const own = await clusterWithStreams();
    const publisher = await client(own.urls, keys.node, [keys.node]);
    const receiver = await client(own.urls, keys.agent, [keys.node], { trust: { zone: ZONE, replay: new ReplayGuard(), keyOfEntity: () => keys.node.keyId, logger: { warn() {} } } });
    const seed = StoredMessageReplay.prototype.seed;
    const seeded: string[] = [];
    // The test's own question (which node holds the reader) is asked while seeding holds this
    // process's event loop a millisecond a message: on a connection of its own, with time to
    // wait (under a full suite's load it outlasted nats.js's 5 s default once).
    const control = await natsConnect({ servers: own.urls });
    const jsm = await jetstreamManager(control, { timeout: 30_000 });
    let killing: Promise<void> | undefined;
    const spy = vi.spyOn(StoredMessageReplay.prototype, "seed").mockImplementation(function (this: StoredMessageReplay, storedAs, subject, signature) {
      seeded.push(storedAs);
      // A millisecond per message, so the node dies while the window is read.
      const until = Date.now() + 1;
      while (Date.now() < until);
      if (seeded.length === 300) killing = readerHost(jsm).then((host) => own.nodes.find((n) => n.name === host)!.kill());
      return seed.call(this, storedAs, subject, signature);
    });
    try {
      // 1,500 messages take 1.5 s; the reader's move to another node takes 6–15 s idle (the most
      // when the dead node led the cluster's metadata), well inside the 45 s a subscription may
      // spend on the read.
      const messages = Array.from({ length: 1_500 }, () => stateUpdate("n-seed"));
      await publisher.publishMany(messages);
      const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-seed", deliver: "new" });
      await killing;
      expect(killing).toBeDefined();
      // Every stored message of the window, once each, in stream order.
      const sequences = seeded.map((storedAs) => Number(storedAs.split("#")[1]));
      expect(sequences).toEqual(Array.from({ length: messages.length }, (_, i) => sequences[0]! + i));
      await sub.stop();
    } finally {
      spy.mockRestore();
      await control.close();
      await publisher.close();
      await receiver.close();
      await own.stop();
    }
  }, 120_000);

  it("onex dlq list lists every letter while the dead-letter stream's leader is killed and another elected", async () => {
    const own = await clusterWithStreams();
    const nc = await natsConnect({ servers: own.urls });
    try {
      const js = jetstream(nc);
      const jsm = await jetstreamManager(nc);
      const subject = deadLetterSubject(undefined, "ONEX_EVENT", "failover");
      const written = 2_000;
      for (let i = 0; i < written; i += 200) await Promise.all(Array.from({ length: 200 }, (_, j) => js.publish(subject, new TextEncoder().encode(`{"n":${i + j}}`))));
      const leader = (await jsm.streams.info("ONEX_DLQ")).cluster!.leader!;
      const getMessage = jsm.streams.getMessage.bind(jsm.streams);
      let calls = 0;
      vi.spyOn(jsm.streams, "getMessage").mockImplementation(async (stream, query) => {
        // The leader dies while the letters are read one by one.
        if (++calls === 300) void own.nodes.find((n) => n.name === leader)!.kill();
        return getMessage(stream, query);
      });
      const letters = await listDeadLetters(jsm, { stream: "ONEX_DLQ" });
      expect(letters.map((l) => new TextDecoder().decode(l.data))).toEqual(Array.from({ length: written }, (_, n) => `{"n":${n}}`));
    } finally {
      vi.restoreAllMocks();
      await nc.close();
      await own.stop();
    }
  }, 120_000);
});

/** The node leading the consumer reading ONEX_EVENT's stored messages (runtime/jetstream/stored-reader.ts names them onex_read_*). */
async function readerHost(jsm: JetStreamManager): Promise<string> {
  const readers = [];
  for await (const c of jsm.consumers.list("ONEX_EVENT")) if (c.name.startsWith("onex_read_")) readers.push(c);
  expect(readers).toHaveLength(1);
  return readers[0]!.cluster!.leader!;
}
