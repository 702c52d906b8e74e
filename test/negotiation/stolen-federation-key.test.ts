/**
 * A deployment's federation key is stolen. Its operator rotates it and, as security.md says,
 * has each peer forget the deployment and take the old key out of its ring. Written as the
 * thief on a plain connection to a real nats-server, holding the old key, against a peer that
 * kept running (its key resolver a Map the operator deletes from; a keyRing is fixed when made).
 * Forgetting alone released the name: the thief's offer, still signed by a trusted key, bound
 * the deployment to the stolen key before the rotated node negotiated, and the rotated node was
 * then refused.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../runtime/errors.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { freshOffer, type ProtocolOffer } from "../../runtime/negotiation/agreement.js";
import type { FederationNode } from "../../runtime/negotiation/federation-node.js";
import { negotiateSubject, type HandshakeAnswer } from "../../runtime/negotiation/negotiation-service.js";
import { generateKeyPair, type KeyPair, type PublicKey } from "../../runtime/trust/keys.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { applyAllStreams, bundledIndexes, federationClient, startNode } from "./support.js";

const A = "deployment-a";
const B = "deployment-b";
const keys = { a: generateKeyPair(), oldB: generateKeyPair(), newB: generateKeyPair() };
/** Node A's ring, asked on every offer: what the operator edits while A runs. */
const ringOfA = new Map<string, PublicKey>([keys.a, keys.oldB].map((k) => [k.keyId, k.publicKey]));

let server: NatsServer;
let thief: NatsConnection;
const clients: OnexClient[] = [];
const nodes: FederationNode[] = [];

beforeAll(async () => {
  server = await startNatsServer();
  await applyAllStreams(server.url);
  thief = await connect({ servers: server.url });
});
afterAll(async () => {
  for (const node of nodes) await node.stop();
  for (const client of clients) await client.close();
  await thief?.close();
  await server?.stop();
});

async function node(deployment: string, identity: KeyPair, trusted: KeyPair[], ring?: Map<string, PublicKey>): Promise<FederationNode> {
  const client = await federationClient(server.url, identity, trusted);
  clients.push(client);
  const started = await startNode(client, deployment, "0.1", await bundledIndexes(), identity, trusted, ring ? { keys: (id) => ring.get(id) } : {});
  nodes.push(started);
  return started;
}

/** The offer B's node makes, as anyone may ask for it, signed afresh for A by `key`. */
async function offerOfB(key: KeyPair, nonce: string, deployment = B): Promise<ProtocolOffer> {
  const reply = await thief.request(negotiateSubject(B), new TextEncoder().encode(JSON.stringify({ kind: "onex.offer/1" })), { timeout: 5_000 });
  const { signature: _s, signer: _k, audience: _a, nonce: _n, issued_at: _i, in_reply_to: _r, ...unsigned } = (JSON.parse(new TextDecoder().decode(reply.data)) as HandshakeAnswer).offer;
  return freshOffer({ ...(unsigned as ProtocolOffer), deployment }, key, { audience: A, nonce });
}
async function send(offer: ProtocolOffer): Promise<HandshakeAnswer> {
  const reply = await thief.request(negotiateSubject(A), new TextEncoder().encode(JSON.stringify(offer)), { timeout: 5_000 });
  return JSON.parse(new TextDecoder().decode(reply.data)) as HandshakeAnswer;
}

describe("a stolen federation key, after rotation", () => {
  it("changes no agreement once the peer has forgotten the deployment and dropped the old key from its ring", async () => {
    const nodeA = await node(A, keys.a, [keys.a, keys.oldB], ringOfA);
    const oldB = await node(B, keys.oldB, [keys.a, keys.oldB]);
    await oldB.negotiate(A);
    expect(nodeA.agreements.get(B)?.peer.signer).toBe(keys.oldB.keyId);

    // Rotation: B runs with its new key; A trusts it, drops the old one, and forgets B.
    await oldB.stop();
    const newB = await node(B, keys.newB, [keys.a, keys.newB]);
    ringOfA.set(keys.newB.keyId, keys.newB.publicKey);
    ringOfA.delete(keys.oldB.keyId);
    nodeA.forget(B);

    // The thief speaks for B first, and for a name no one holds yet.
    const forB = await send(await offerOfB(keys.oldB, "thief-1"));
    expect(forB.agreement).toBeUndefined();
    expect(nodeA.agreements.has(B)).toBe(false);
    expect(forB.rejection?.code).toBe(ErrorCode.NegotiationInvalid);
    const squat = await send(await offerOfB(keys.oldB, "thief-2", "deployment-squat"));
    expect(squat.agreement).toBeUndefined();
    expect(nodeA.agreements.has("deployment-squat")).toBe(false);

    expect(await newB.negotiate(A)).toMatchObject({ version: "0.1" });
    expect(nodeA.agreements.get(B)?.peer.signer).toBe(keys.newB.keyId);
    // And after: the stolen key cannot move B's agreement back.
    expect((await send(await offerOfB(keys.oldB, "thief-3"))).agreement).toBeUndefined();
    expect(nodeA.agreements.get(B)?.peer.signer).toBe(keys.newB.keyId);
  });
});
