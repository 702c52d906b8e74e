/**
 * The reader of stored messages (runtime/jetstream/stored-reader.ts) when a request of its own
 * goes unanswered: nats-server 2.9 places a reader's consumer on any replica, and one placed on
 * a node still recovering from its restart went unanswered for good. The reader gives such a
 * request up after its stall time (5 s) and goes on with another consumer, whatever the
 * manager's own timeout: with a manager of 30 s, one such request spent the read's whole
 * patience and the read failed. Here the manager's API requests pass through a relay on a real
 * nats-server, which drops or holds back the requests a test names.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { readStored } from "../../runtime/jetstream/stored-reader.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";

let server: NatsServer;
let nc: NatsConnection;
beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

/**
 * A JetStream manager (30 s timeout) whose requests go through RELAY.API.<request> on to
 * $JS.API.<request>: `hold` says, for the n-th request of a kind (its subject without the last
 * token: `STREAM.MSG.GET`, `CONSUMER.DURABLE.CREATE.<stream>`), "drop", a delay in ms before it
 * goes on, or nothing. `answered` resolves once each request held back is answered.
 */
async function relayed(hold: (request: string, nth: number) => "drop" | number | undefined) {
  const seen = new Map<string, number>();
  const held: Promise<void>[] = [];
  const relay = nc.subscribe("RELAY.API.>", {
    callback: (_error, msg) => {
      const request = msg.subject.slice("RELAY.API.".length);
      const kind = request.split(".").slice(0, -1).join(".");
      seen.set(kind, (seen.get(kind) ?? 0) + 1);
      const rule = hold(kind, seen.get(kind)!);
      if (rule === "drop") return;
      const forward = async () => {
        if (rule !== undefined) await new Promise((resolve) => setTimeout(resolve, rule));
        const answer = await nc.request(`$JS.API.${request}`, msg.data, { timeout: 5_000 });
        msg.respond(answer.data);
      };
      const forwarded = forward().catch(() => undefined);
      if (rule !== undefined) held.push(forwarded);
    },
  });
  const jsm: JetStreamManager = await jetstreamManager(nc, { apiPrefix: "RELAY.API", timeout: 30_000, checkAPI: false });
  return { jsm, seen, answered: () => Promise.all(held), close: () => relay.unsubscribe() };
}

async function streamOf(name: string, subjects: string[]): Promise<void> {
  const js = jetstream(nc);
  await (await jetstreamManager(nc)).streams.add({ name, subjects: [`${name.toLowerCase()}.>`] });
  for (const [i, subject] of subjects.entries()) await js.publish(`${name.toLowerCase()}.${subject}`, JSON.stringify({ i }));
}

async function read(jsm: JetStreamManager, stream: string, options: { filter?: string; upTo: number }): Promise<number[]> {
  const seqs: number[] = [];
  for await (const msg of readStored(jetstream(nc), jsm, stream, { from: { sequence: 1 }, ...options })) seqs.push(msg.seq);
  return seqs;
}

const CREATE = "CONSUMER.DURABLE.CREATE";

it("gives up a consumer whose making goes unanswered and reads every message with another", async () => {
  await streamOf("DROPPED", Array(10).fill("a"));
  const relay = await relayed((kind, nth) => (kind.startsWith(CREATE) && nth === 1 ? "drop" : undefined));
  try {
    expect(await read(relay.jsm, "DROPPED", { upTo: 10 })).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(relay.seen.get(`${CREATE}.DROPPED`)).toBe(2);
  } finally {
    relay.close();
  }
}, 60_000);

it("removes a consumer whose making was answered after the read gave it up (its delete went first, and found nothing)", async () => {
  await streamOf("LATE", Array(10).fill("a"));
  const relay = await relayed((kind, nth) => (kind.startsWith(CREATE) && nth === 1 ? 7_000 : undefined));
  try {
    expect(await read(relay.jsm, "LATE", { upTo: 10 })).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await relay.answered();
    // The consumer made late is deleted once its making is answered; left alone, it stays 60 s.
    const manager = await jetstreamManager(nc);
    const consumers = async () => (await manager.consumers.list("LATE").next()).map((c) => c.name);
    let names = await consumers();
    for (const deadline = Date.now() + 10_000; names.length > 0 && Date.now() < deadline; names = await consumers()) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(names).toEqual([]);
  } finally {
    relay.close();
  }
}, 60_000);

it("asks the stream's leader again when its answer of what follows the last message read does not come", async () => {
  // The filter's messages end at 5 of 10: the reader asks the stream's leader whether one follows.
  await streamOf("LEADER", ["a", "a", "a", "a", "a", "b", "b", "b", "b", "b"]);
  const relay = await relayed((kind, nth) => (kind.startsWith("STREAM.MSG.GET") && nth === 1 ? "drop" : undefined));
  try {
    expect(await read(relay.jsm, "LEADER", { filter: "leader.a", upTo: 10 })).toEqual([1, 2, 3, 4, 5]);
    expect(relay.seen.get("STREAM.MSG.GET")).toBe(2);
  } finally {
    relay.close();
  }
}, 60_000);
