/**
 * A flood, as the attacker: a connection that may publish on the negotiation subjects sends
 * thousands of nonce probes (each answered with a signed 20 KB document) and unsigned offers
 * at a FederationNode on a real nats-server, all at once. The node turns away what does not
 * fit its queue with a short unsigned rejection an initiator may retry
 * (ONEX_E_NEGOTIATION_TIMEOUT), answers the rest, and a peer's signed handshake sent after the
 * flood is answered and recorded. How long any of it takes is measured in bench/, not here.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../runtime/errors.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import type { FederationNode } from "../../runtime/negotiation/federation-node.js";
import { negotiateSubject, schemasSubject, type HandshakeAnswer, type SchemasDocument } from "../../runtime/negotiation/negotiation-service.js";
import { MAX_QUEUED_REQUESTS } from "../../runtime/negotiation/request-queue.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { applyAllStreams, bundledIndexes, federationClient, startNode } from "./support.js";

const A = "deployment-a";
const B = "deployment-b";
const FLOOD = 10 * MAX_QUEUED_REQUESTS;
const keys = { a: generateKeyPair(), b: generateKeyPair() };
const trusted = Object.values(keys);

let server: NatsServer;
let nodeA: FederationNode;
let nodeB: FederationNode;
const clients: OnexClient[] = [];
let attacker: NatsConnection;
const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

beforeAll(async () => {
  server = await startNatsServer();
  await applyAllStreams(server.url);
  const indexes = await bundledIndexes();
  clients.push(await federationClient(server.url, keys.a, trusted), await federationClient(server.url, keys.b, trusted));
  nodeA = await startNode(clients[0]!, A, "0.2", indexes, keys.a, trusted);
  nodeB = await startNode(clients[1]!, B, "0.1", indexes, keys.b, trusted);
  attacker = await connect({ servers: server.url });
});

afterAll(async () => {
  await nodeA?.stop();
  await nodeB?.stop();
  await attacker?.close();
  for (const c of clients) await c.close();
  await server?.stop();
});

describe("a flood of requests at a federation node", () => {
  it("is turned away past the queue with a retryable rejection, and a signed handshake after it is answered", async () => {
    const answers = { documents: 0, offers: 0, busy: 0, other: [] as unknown[] };
    const sub = attacker.subscribe("_INBOX.flood.>", {
      callback: (_error, msg) => {
        const body = JSON.parse(new TextDecoder().decode(msg.data)) as SchemasDocument | HandshakeAnswer;
        if (body.kind === "onex.schemas/1" && body.signature !== undefined) answers.documents++;
        else if (body.kind === "onex.answer/1" && body.rejection === undefined) answers.offers++;
        else if (body.kind === "onex.answer/1" && body.rejection?.code === ErrorCode.NegotiationTimeout) answers.busy++;
        else answers.other.push(body);
      },
    });
    await attacker.flush();
    // B's offer as anyone may read it off B's subject, sent unsigned: the kind `onex negotiate` sends.
    const { signature: _s, signer: _k, ...offer } = (JSON.parse(new TextDecoder().decode((await attacker.request(negotiateSubject(B), bytes({ kind: "onex.offer/1" }), { timeout: 5_000 })).data)) as HandshakeAnswer).offer;
    for (let i = 0; i < FLOOD; i++) {
      attacker.publish(schemasSubject(A), bytes({ nonce: `n${i}` }), { reply: `_INBOX.flood.probe.${i}` });
      attacker.publish(negotiateSubject(A), bytes(offer), { reply: `_INBOX.flood.offer.${i}` });
    }
    await attacker.flush();

    // A signed handshake sent after the flood is answered, at once or when tried again, and both nodes record the agreement.
    const outcomes: string[] = [];
    await expect
      .poll(
        () =>
          nodeB.negotiate(A).then(
            (agreement) => agreement.version,
            (error: { code?: string }) => (outcomes.push(String(error.code)), "refused"),
          ),
        { timeout: 30_000, interval: 100 },
      )
      .toBe("0.1");
    // Turned away, the handshake fails as one that may be tried again, nothing else.
    expect(outcomes.filter((code) => code !== ErrorCode.NegotiationTimeout)).toEqual([]);
    expect(nodeA.agreements.get(B)).toMatchObject({ version: "0.1" });

    // Everything answered is the node's answer or the short rejection; more came than fit the queue, and some were turned away.
    await attacker.flush();
    expect(answers.other).toEqual([]);
    expect(answers.busy).toBeGreaterThan(0);
    expect(answers.documents + answers.offers + answers.busy).toBeLessThanOrEqual(2 * FLOOD);
    sub.unsubscribe();
  });
});
