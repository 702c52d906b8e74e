/**
 * Reflection, as the attacker: in request-reply the requester picks the reply subject, and the
 * answer goes out with the responder's permissions. A federated peer that may publish only on
 * the negotiation subjects sends probes and offers whose reply subject is a JetStream API
 * subject or a stream's subject, on a real nats-server where the responder's identity may use
 * JetStream (it must, to run a FederationNode). The service answers none of them: the stream is
 * neither purged nor written to, and the peer's own requests are still answered.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { negotiateSubject, schemasSubject, serveNegotiation, type NegotiationService, type SchemasDocument } from "../../runtime/negotiation/negotiation-service.js";
import type { SchemaIndex } from "../../runtime/negotiation/schema-index.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { bundledIndexes } from "./support.js";

const A = "deployment-a";
const STREAM = "VICTIM";
const config = `authorization {
  users = [
    { user: responder, password: r }
    { user: peer, password: p, permissions: { publish: { allow: ["onex.schemas.>", "onex.negotiate.>"] }, subscribe: { allow: ["_INBOX_peer.>"] } } }
  ]
}`;

let server: NatsServer;
let responder: NatsConnection;
let attacker: NatsConnection;
let service: NegotiationService;
let indexes: SchemaIndex[];
const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

beforeAll(async () => {
  server = await startNatsServer({ config });
  indexes = await bundledIndexes();
  responder = await connect({ servers: server.url, user: "responder", pass: "r" });
  const jsm = await jetstreamManager(responder);
  await jsm.streams.add({ name: STREAM, subjects: ["victim.>"] });
  for (let i = 0; i < 3; i++) responder.publish(`victim.order.${i}`, bytes({ order: i }));
  await responder.flush();
  const own = indexes[indexes.length - 1]!;
  service = serveNegotiation(responder, {
    deployment: A,
    protocol: { version: own.version, compatible_with: own.compatible_with, declared_by: "onex", schema_manifest_url: own.schema_manifest_url },
    indexes,
    identity: generateKeyPair(),
  });
  await responder.flush();
  attacker = await connect({ servers: server.url, user: "peer", pass: "p", inboxPrefix: "_INBOX_peer" });
});

afterAll(async () => {
  await service?.stop();
  await attacker?.close();
  await responder?.close();
  await server?.stop();
});

async function streamState() {
  const jsm = await jetstreamManager(responder);
  return (await jsm.streams.info(STREAM)).state;
}

describe("a request whose reply subject is not an inbox", () => {
  it("is not answered: a stream is neither purged nor written to through the responder", async () => {
    for (const reply of [`$JS.API.STREAM.PURGE.${STREAM}`, "victim.reflected", `$JS.API.STREAM.DELETE.${STREAM}`]) {
      attacker.publish(schemasSubject(A), bytes({ nonce: "n" }), { reply });
      attacker.publish(negotiateSubject(A), bytes({ kind: "onex.offer/1" }), { reply });
    }
    // Requests are answered in the order they came: once these are, the ones above were seen.
    const probe = await attacker.request(schemasSubject(A), bytes({ nonce: "after" }), { timeout: 5_000 });
    expect((JSON.parse(new TextDecoder().decode(probe.data)) as SchemasDocument).in_reply_to).toBe("after");
    await attacker.request(negotiateSubject(A), bytes({ kind: "onex.offer/1" }), { timeout: 5_000 });
    await responder.flush();
    expect(await streamState()).toMatchObject({ messages: 3, first_seq: 1, last_seq: 3 });
  });

  it("the server lets the peer choose such reply subjects: the service is what refuses them", async () => {
    // Were the server to refuse them, the peer's connection would see a permission error and the request not arrive.
    const seen: string[] = [];
    const sub = responder.subscribe("onex.schemas.witness", { callback: (_e, msg) => void seen.push(msg.reply ?? "") });
    await responder.flush();
    const witness = await connect({ servers: server.url, user: "peer", pass: "p" });
    try {
      witness.publish("onex.schemas.witness", bytes({ nonce: "n" }), { reply: `$JS.API.STREAM.PURGE.${STREAM}` });
      await witness.flush();
      await responder.flush();
      await expect.poll(() => seen, { timeout: 5_000 }).toEqual([`$JS.API.STREAM.PURGE.${STREAM}`]);
    } finally {
      sub.unsubscribe();
      await witness.close();
    }
  });
});
