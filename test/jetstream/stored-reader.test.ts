/**
 * The reader of stored messages (runtime/jetstream/stored-reader.ts) against a real
 * nats-server: it reads every message of a stream whose messages would overflow what the
 * server holds for one client (which drops such a client as slow, and what was in flight
 * with it), and an aborted read ends and leaves no consumer, with messages still in hand.
 * Its life through a dying cluster node is in cluster-failover.test.ts.
 */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readHistory } from "../../runtime/jetstream/history.js";
import { readStored } from "../../runtime/jetstream/stored-reader.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";

let server: NatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

async function consumersOf(stream: string): Promise<string[]> {
  return (await jsm.consumers.list(stream).next()).map((c) => c.name);
}

describe("reading stored messages", () => {
  it("reads every message, in order, of a stream holding more than a server buffers for one client", async () => {
    await jsm.streams.add({ name: "LARGE", subjects: ["large.>"] });
    // 5,000 small messages, then 1,000 of 100 KB: 100 MB, where the server drops a client
    // holding 64 MB unread. Pulls sized by the small ones (or by the average) overflow it once.
    await Promise.all(Array.from({ length: 5_000 }, (_, i) => js.publish("large.a", JSON.stringify({ i }))));
    const body = JSON.stringify({ pad: "x".repeat(100_000) });
    for (let i = 0; i < 1_000; i += 50) await Promise.all(Array.from({ length: 50 }, () => js.publish("large.a", body)));
    const read: number[] = [];
    for await (const entry of readHistory(js, jsm, "LARGE", {})) read.push(entry.sequence);
    expect(read).toEqual(Array.from({ length: 6_000 }, (_, i) => i + 1));
    expect(await consumersOf("LARGE")).toEqual([]);
  }, 120_000);

  it("ends an aborted read, and removes its consumer, while a pull still holds messages", async () => {
    await jsm.streams.add({ name: "ABORTED", subjects: ["aborted.>"] });
    await Promise.all(Array.from({ length: 5_000 }, (_, i) => js.publish(`aborted.${i % 3}`, JSON.stringify({ i }))));
    const abort = new AbortController();
    let read = 0;
    for await (const msg of readStored(js, jsm, "ABORTED", { from: { sequence: 1 }, upTo: 5_000, signal: abort.signal })) {
      void msg;
      if (++read === 100) abort.abort();
      // A reader that waits per message: the pull holds the rest of its batch meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(read).toBeLessThan(5_000);
    // The consumer is deleted as the read ends, without waiting on the server.
    let left = await consumersOf("ABORTED");
    for (let i = 0; i < 50 && left.length > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      left = await consumersOf("ABORTED");
    }
    expect(left).toEqual([]);
  }, 60_000);
});
