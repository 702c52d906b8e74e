/**
 * The reader of stored messages (runtime/jetstream/stored-reader.ts) when the server holding
 * its consumer never answers for it: nats-server 2.9 places a reader's consumer on any replica,
 * and one placed on a node still recovering from its restart went unanswered for good. The
 * reader gives such a consumer up after its stall time and makes another, whatever the
 * manager's own timeout: with a manager of 30 s, one such request spent the read's whole
 * patience and the read failed. Here the manager's API requests pass through a relay on a
 * real nats-server, which drops the first request that makes a consumer.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
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

it("gives up a consumer whose making goes unanswered and reads every message with another, under a manager with a 30 s timeout", async () => {
  const js = jetstream(nc);
  await (await jetstreamManager(nc)).streams.add({ name: "UNANSWERED", subjects: ["unanswered.>"] });
  for (let i = 0; i < 10; i++) await js.publish("unanswered.a", JSON.stringify({ i }));

  // The relay: RELAY.API.<request> goes on to $JS.API.<request>, and its answer back, except
  // the first request to make a consumer, which is dropped.
  const made: string[] = [];
  const relay = nc.subscribe("RELAY.API.>", {
    callback: (_error, msg) => {
      const request = msg.subject.slice("RELAY.API.".length);
      if (request.startsWith("CONSUMER.DURABLE.CREATE.") && made.push(request) === 1) return;
      nc.request(`$JS.API.${request}`, msg.data, { timeout: 5_000 }).then(
        (answer) => msg.respond(answer.data),
        () => undefined,
      );
    },
  });
  try {
    const jsm = await jetstreamManager(nc, { apiPrefix: "RELAY.API", timeout: 30_000, checkAPI: false });
    const read: number[] = [];
    for await (const msg of readStored(js, jsm, "UNANSWERED", { from: { sequence: 1 }, upTo: 10 })) read.push(msg.seq);
    expect(read).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(made.length).toBe(2);
  } finally {
    relay.unsubscribe();
  }
}, 60_000);
