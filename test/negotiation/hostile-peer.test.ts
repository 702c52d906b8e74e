/**
 * Negotiation against whoever can publish on its subjects (anyone on an unzoned federation
 * server): two FederationNodes on a real nats-server, and an attacker on a plain connection
 * holding, at most, a key the nodes trust for a third deployment. An oversized offer is
 * answered and the node goes on; an unsigned, stale, replayed or borrowed-name offer, or an
 * answer no trusted key signed for this handshake, changes no agreement.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connect, headers, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../runtime/errors.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { OFFER_LIMITS, freshOffer, type HandshakeRole, type ProtocolOffer } from "../../runtime/negotiation/agreement.js";
import type { FederationNode, FederationNodeOptions } from "../../runtime/negotiation/federation-node.js";
import { negotiateSubject, schemasSubject, type HandshakeAnswer, type SchemasDocument } from "../../runtime/negotiation/negotiation-service.js";
import { probe } from "../../runtime/negotiation/probe.js";
import type { SchemaIndex } from "../../runtime/negotiation/schema-index.js";
import { generateKeyPair, type KeyPair } from "../../runtime/trust/keys.js";
import { signRecord } from "../../runtime/trust/record-signature.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { applyAllStreams, bundledIndexes, federationClient, startNode } from "./support.js";

const A = "deployment-a";
const B = "deployment-b";
const keys = { a: generateKeyPair(), b: generateKeyPair(), other: generateKeyPair(), relayed: generateKeyPair(), flood: generateKeyPair() };
const trusted = Object.values(keys);

let server: NatsServer;
let indexes: SchemaIndex[];
let nodeA: FederationNode;
let nodeB: FederationNode;
const clients: OnexClient[] = [];
let attacker: NatsConnection;

const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
async function ask(subject: string, value: unknown): Promise<HandshakeAnswer> {
  const reply = await attacker.request(subject, typeof value === "string" ? value : bytes(value), { timeout: 5_000 });
  return JSON.parse(new TextDecoder().decode(reply.data)) as HandshakeAnswer;
}
/** B's offer as B sends it, with `changes`, signed afresh by `key` (null: unsigned) in `role` (default: opening a handshake with A). */
function offerOfB(changes: Partial<ProtocolOffer>, key: KeyPair | null = keys.b, role: HandshakeRole = { audience: A, nonce: "attacker-nonce" }): ProtocolOffer {
  const { signature: _s, signer: _k, ...unsigned } = bOffer;
  const offer = { ...unsigned, ...changes };
  return key === null ? offer : freshOffer(offer, key, role, Date.parse(changes.issued_at ?? new Date().toISOString()));
}
let bOffer: ProtocolOffer;

beforeAll(async () => {
  server = await startNatsServer();
  await applyAllStreams(server.url);
  indexes = await bundledIndexes();
  clients.push(await federationClient(server.url, keys.a, trusted), await federationClient(server.url, keys.b, trusted));
  nodeA = await startNode(clients[0]!, A, "0.2", indexes, keys.a, trusted);
  nodeB = await startNode(clients[1]!, B, "0.1", indexes, keys.b, trusted);
  attacker = await connect({ servers: server.url });
  // B's own offer, as it answers it: what an attacker sees on the wire.
  bOffer = (await ask(negotiateSubject(B), { kind: "onex.offer/1" })).offer;
  await nodeB.negotiate(A);
});

afterAll(async () => {
  await nodeA?.stop();
  await nodeB?.stop();
  await attacker?.close();
  for (const c of clients) await c.close();
  await server?.stop();
});

/** A's agreement with B, as it stands. */
const agreementOfB = () => nodeA.agreements.get(B);

describe("an offer beyond the bounds", () => {
  it("of 360 KB is answered with a rejection, and the node goes on negotiating", async () => {
    const answer = await ask(negotiateSubject(A), offerOfB({ deployment: "e".repeat(360_000) }, null));
    expect(answer.rejection).toMatchObject({ code: ErrorCode.NegotiationInvalid, message: expect.stringContaining(`more than ${OFFER_LIMITS.bytes}`) });
    expect(await nodeB.negotiate(A)).toMatchObject({ mode: "direct", version: "0.1" });
  });

  it("with a long name or thousands of versions is refused before anything is probed", async () => {
    const long = await ask(negotiateSubject(A), offerOfB({ deployment: "x".repeat(3_000) }, null));
    expect(long.rejection).toMatchObject({ code: ErrorCode.NegotiationInvalid, message: expect.stringContaining(`longer than ${OFFER_LIMITS.deploymentChars}`) });
    const versions = Array.from({ length: 100 }, (_, i) => ({ version: `7.${i}`, content_hash: `sha256:${"0".repeat(64)}` }));
    const many = await ask(negotiateSubject(A), offerOfB({ deployment: "many", speaks: versions }, null));
    expect(many.rejection).toMatchObject({ code: ErrorCode.NegotiationInvalid, message: expect.stringContaining(`more than ${OFFER_LIMITS.versions} versions`) });
  });
});

describe("an offer that names a negotiated peer", () => {
  it("unsigned, is answered and changes nothing", async () => {
    const before = agreementOfB();
    expect(before).toMatchObject({ version: "0.1", peer: { signer: keys.b.keyId } });
    const answer = await ask(negotiateSubject(A), offerOfB({ protocol: { ...bOffer.protocol, version: "9.9" }, speaks: [], converts: [] }, null));
    expect(answer.rejection?.code).toBe(ErrorCode.IncompatiblePeer);
    expect(agreementOfB()).toEqual(before);
    expect(nodeA.rejections.has(B)).toBe(false);
  });

  it("signed by another trusted key, is refused and changes nothing", async () => {
    const before = agreementOfB();
    const answer = await ask(negotiateSubject(A), offerOfB({ speaks: bOffer.speaks.filter((v) => v.version === "0.0.9") }, keys.other));
    expect(answer.rejection).toMatchObject({ code: ErrorCode.NegotiationInvalid, message: expect.stringContaining(`signed by ${keys.other.keyId} cannot speak for it`) });
    expect(agreementOfB()).toEqual(before);
  });

  it("signed by its key but issued before the offer already taken, or outside the window, is refused and changes nothing", async () => {
    const before = agreementOfB();
    for (const [issued, why] of [
      [new Date(Date.now() - 60_000).toISOString(), "before an offer of it already taken"],
      [new Date(Date.now() - 10 * 60_000).toISOString(), "minutes from this host's clock"],
      [undefined, "carries no issued_at"],
      ["for another deployment", `is not an opening offer for "${A}"`],
      ["signed once", "upgrade it"],
    ] as const) {
      const offer =
        issued === undefined
          ? signRecord({ ...offerOfB({}, null), audience: A, nonce: "n", signer: keys.b.keyId }, keys.b)
          : issued === "for another deployment"
            ? offerOfB({}, keys.b, { audience: "deployment-c", nonce: "n" })
            : issued === "signed once"
              ? // As an onex from before signed handshakes sends it: signed once, no audience, nonce or time.
                signRecord({ ...offerOfB({}, null), signer: keys.b.keyId }, keys.b)
              : offerOfB({ issued_at: issued });
      const answer = await ask(negotiateSubject(A), offer);
      expect(answer.rejection, why).toMatchObject({ code: ErrorCode.NegotiationInvalid, message: expect.stringContaining(why) });
    }
    expect(agreementOfB()).toEqual(before);
  });
});

describe("an opening offer recorded off the wire", () => {
  it("is refused sent again, or after a handshake the other side opened since", async () => {
    const captured = offerOfB({}, keys.b, { audience: A, nonce: "captured" });
    expect((await ask(negotiateSubject(A), captured)).agreement).toBeDefined();
    expect((await ask(negotiateSubject(A), captured)).rejection).toMatchObject({ code: ErrorCode.NegotiationInvalid, message: expect.stringContaining("was taken already") });
    // B's next offer, issued just after the first and captured too, but not delivered yet.
    const older = offerOfB({ issued_at: new Date(Date.parse(captured.issued_at!) + 1).toISOString(), speaks: bOffer.speaks.filter((v) => v.version === "0.0.9") }, keys.b, { audience: A, nonce: "older" });
    await new Promise((resolve) => setTimeout(resolve, 5));
    // A opens a handshake with B: B's answer, issued since, is newer than both.
    await nodeA.negotiate(B);
    const before = agreementOfB();
    expect((await ask(negotiateSubject(A), older)).rejection).toMatchObject({ code: ErrorCode.NegotiationInvalid, message: expect.stringContaining("before an offer of it already taken") });
    expect(agreementOfB()).toEqual(before);
  });
});

describe("an answer to a handshake", () => {
  it("that no trusted key signed, or signed for another handshake, agrees nothing and records nothing", async () => {
    const name = "deployment-imposter";
    const answers: [HandshakeAnswer, string][] = [
      // Unsigned, claiming the deployment asked for.
      [{ kind: "onex.answer/1", offer: offerOfB({ deployment: name }, null) }, "without an offer a trusted key signed"],
      // Signed by a trusted key, but for an earlier handshake (its nonce is not this one's).
      [{ kind: "onex.answer/1", offer: offerOfB({ deployment: name }, keys.other, { in_reply_to: "an-earlier-nonce" }) }, "signed for another handshake"],
    ];
    // The attacker publishes the schemas B does, so the offer is backed and only its signature is wanting.
    const schemas = { kind: "onex.schemas/1" as const, deployment: name, protocol: bOffer.protocol, indexes: indexes.filter((i) => i.version !== "0.2") };
    const published = attacker.subscribe(schemasSubject(name), { callback: (_e, msg) => void msg.respond(bytes(schemas)) });
    for (const [answer, why] of answers) {
      const subscription = attacker.subscribe(negotiateSubject(name), { callback: (_e, msg) => void msg.respond(bytes({ ...answer, agreement: { mode: "direct", version: "0.1" } })) });
      await attacker.flush();
      try {
        await expect(nodeA.negotiate(name)).rejects.toMatchObject({ code: ErrorCode.NegotiationInvalid, message: expect.stringContaining(why) });
      } finally {
        subscription.unsubscribe();
      }
    }
    published.unsubscribe();
    expect(nodeA.agreements.has(name)).toBe(false);
  });
});

describe("an answer that comes before the peer's", () => {
  it("is passed over: the handshake and its schemas probe take the peer's own answers when they come", async () => {
    let forged = 0;
    // Answers at once, before B (which probes A before it answers): a "no responders" status, a
    // forged handshake answer and an empty list of schemas.
    const noResponders = (msg: Msg) => attacker.publish(msg.reply!, new Uint8Array(0), { headers: headers(503, "No Responders") });
    const subscriptions = [
      attacker.subscribe(negotiateSubject(B), { callback: (_e, msg) => noResponders(msg) }),
      attacker.subscribe(schemasSubject(B), { callback: (_e, msg) => noResponders(msg) }),
      attacker.subscribe(negotiateSubject(B), {
        callback: (_e, msg) => {
          forged++;
          const { nonce } = JSON.parse(new TextDecoder().decode(msg.data)) as ProtocolOffer;
          msg.respond(bytes({ kind: "onex.answer/1", offer: offerOfB({}, keys.other, { in_reply_to: nonce! }), rejection: { code: ErrorCode.IncompatiblePeer, message: "forged", details: {} } }));
        },
      }),
      attacker.subscribe(schemasSubject(B), {
        callback: (_e, msg) => {
          forged++;
          msg.respond(bytes({ kind: "onex.schemas/1", deployment: B, protocol: bOffer.protocol, indexes: [] }));
        },
      }),
    ];
    await attacker.flush();
    try {
      const agreement = await nodeA.negotiate(B);
      expect(forged).toBe(2);
      expect(agreement).toMatchObject({ mode: "direct", version: "0.1", unused: [], peer: { signer: keys.b.keyId } });
      expect(nodeA.rejections.has(B)).toBe(false);
    } finally {
      for (const subscription of subscriptions) subscription.unsubscribe();
    }
  });
});

describe("a rejection stated in an answer", () => {
  it("is thrown, and not recorded: it is outside the signed offer, and whoever answers first may state it", async () => {
    const name = "deployment-relayed";
    // The peer's own offer signed for this very handshake, as an attacker relaying the handshake to the peer gets it back.
    const offerFor = (nonce: string) => offerOfB({ deployment: name }, keys.relayed, { in_reply_to: nonce });
    // The peer's schemas signed for A's probe, as the attacker relaying the probe to the peer gets them back.
    const schemas = { kind: "onex.schemas/1" as const, deployment: name, protocol: bOffer.protocol, indexes: indexes.filter((i) => i.version !== "0.2") };
    const subscriptions = [
      attacker.subscribe(schemasSubject(name), {
        callback: (_e, msg) => {
          const { nonce } = JSON.parse(new TextDecoder().decode(msg.data)) as { nonce: string };
          msg.respond(bytes(signRecord<SchemasDocument>({ ...schemas, signer: keys.relayed.keyId, in_reply_to: nonce }, keys.relayed)));
        },
      }),
      attacker.subscribe(negotiateSubject(name), {
        callback: (_e, msg) => {
          const nonce = (JSON.parse(new TextDecoder().decode(msg.data)) as ProtocolOffer).nonce!;
          msg.respond(bytes({ kind: "onex.answer/1", offer: offerFor(nonce), rejection: { code: ErrorCode.IncompatiblePeer, message: "stated by the attacker", details: {} } }));
        },
      }),
    ];
    await attacker.flush();
    try {
      await expect(nodeA.negotiate(name)).rejects.toMatchObject({ code: ErrorCode.IncompatiblePeer, message: expect.stringContaining("stated by the attacker") });
      expect(nodeA.rejections.has(name)).toBe(false);
    } finally {
      for (const subscription of subscriptions) subscription.unsubscribe();
    }
  });
});

describe("the schemas probe", () => {
  /** A peer `name` holding keys.relayed: its own signed answers and opening offers, and the attacker's spoofed schemas (an empty list) on its probe subject. */
  function spoofed(name: string) {
    const subscriptions = [
      attacker.subscribe(schemasSubject(name), { callback: (_e, msg) => void msg.respond(bytes({ kind: "onex.schemas/1", deployment: name, protocol: bOffer.protocol, indexes: [] })) }),
      attacker.subscribe(negotiateSubject(name), {
        callback: (_e, msg) => {
          const { nonce } = JSON.parse(new TextDecoder().decode(msg.data)) as ProtocolOffer;
          msg.respond(bytes({ kind: "onex.answer/1", offer: offerOfB({ deployment: name }, keys.relayed, { in_reply_to: nonce! }), agreement: { mode: "direct", version: "0.1" } }));
        },
      }),
    ];
    return () => subscriptions.forEach((sub) => sub.unsubscribe());
  }

  it("answered first by someone else decides nothing the initiator records", async () => {
    const stop = spoofed("deployment-spoofed");
    await attacker.flush();
    try {
      await expect(nodeA.negotiate("deployment-spoofed")).rejects.toMatchObject({ code: ErrorCode.NegotiationInvalid, message: expect.stringContaining("were not signed by its key") });
      expect(nodeA.rejections.has("deployment-spoofed")).toBe(false);
    } finally {
      stop();
    }
  });

  it("answered first by someone else leaves a responder the signed offer as declared", async () => {
    const name = "deployment-spoofed-opener";
    const stop = spoofed(name);
    await attacker.flush();
    try {
      const answer = await ask(negotiateSubject(A), offerOfB({ deployment: name }, keys.other));
      expect(answer.agreement).toMatchObject({ mode: "direct", version: "0.1", unused: [] });
      expect(nodeA.agreements.get(name)).toMatchObject({ version: "0.1", peer: { signer: keys.other.keyId } });
      expect(nodeA.rejections.has(name)).toBe(false);
    } finally {
      stop();
      nodeA.forget(name);
    }
  });
});

describe("two offers of one signer", () => {
  it("are recorded newest last, even when the older one's probe ends later", async () => {
    const name = "deployment-upgrading";
    let probes = 0;
    // The older offer's probe is answered late, the newer one's at once.
    const subscription = attacker.subscribe(schemasSubject(name), {
      callback: (_e, msg) => {
        const { nonce } = JSON.parse(new TextDecoder().decode(msg.data)) as { nonce: string };
        const answer = bytes(signRecord<SchemasDocument>({ kind: "onex.schemas/1", deployment: name, protocol: bOffer.protocol, indexes, signer: keys.relayed.keyId, in_reply_to: nonce }, keys.relayed));
        setTimeout(() => msg.respond(answer), probes++ === 0 ? 400 : 0);
      },
    });
    await attacker.flush();
    try {
      const older = offerOfB({ deployment: name, speaks: bOffer.speaks.filter((v) => v.version === "0.0.9") }, keys.relayed, { audience: A, nonce: "n-1" });
      const newer = offerOfB({ deployment: name, issued_at: new Date(Date.now() + 1_000).toISOString() }, keys.relayed, { audience: A, nonce: "n-2" });
      const answers = await Promise.all([ask(negotiateSubject(A), older), ask(negotiateSubject(A), newer)]);
      expect(answers[0]!.agreement).toBeDefined();
      expect(answers[1]!.agreement).toBeDefined();
      expect(answers[0]!.agreement).not.toEqual(answers[1]!.agreement);
      expect(nodeA.agreements.get(name)).toEqual({ ...answers[1]!.agreement, peer: { ...answers[1]!.agreement!.peer, signer: keys.relayed.keyId } });
    } finally {
      subscription.unsubscribe();
      nodeA.forget(name);
    }
  });
});

describe("a flood of offers", () => {
  it("unsigned, is answered at once without a probe and holds no slot; signed, is turned away at once past 64 in progress", async () => {
    // The attacker takes the probe of the flooding deployment and never answers it: a probed handshake waits 1 s.
    const silent = attacker.subscribe(schemasSubject("deployment-flood"), { callback: () => {} });
    await attacker.flush();
    try {
      const unsigned = await Promise.all(Array.from({ length: 80 }, () => ask(negotiateSubject(A), offerOfB({ deployment: "deployment-flood" }, null))));
      expect(unsigned.filter((a) => a.agreement !== undefined)).toHaveLength(80);
      const signed = await Promise.all(Array.from({ length: 80 }, (_, i) => ask(negotiateSubject(A), offerOfB({ deployment: "deployment-flood" }, keys.flood, { audience: A, nonce: `flood-${i}` }))));
      const busy = signed.filter((a) => a.rejection?.code === ErrorCode.NegotiationTimeout && a.rejection.message.includes("handshakes are in progress"));
      expect(busy).toHaveLength(16);
    } finally {
      silent.unsubscribe();
      nodeA.forget("deployment-flood");
    }
  });
});

describe("a peer that rotated its key", () => {
  it("negotiates with the new key once forgotten, and not before", async () => {
    const withNew = (nonce: string) => offerOfB({}, keys.other, { audience: A, nonce });
    expect((await ask(negotiateSubject(A), withNew("r-1"))).rejection?.code).toBe(ErrorCode.NegotiationInvalid);
    nodeA.forget(B);
    expect((await ask(negotiateSubject(A), withNew("r-2"))).agreement).toMatchObject({ version: "0.1", peer: { signer: keys.other.keyId } });
    // Back to B's own key, for the tests after this one.
    nodeA.forget(B);
    await nodeB.negotiate(A);
    expect(agreementOfB()?.peer.signer).toBe(keys.b.keyId);
  });
});

describe("a deployment known ahead (knownPeers)", () => {
  const C = "deployment-c";
  const started: FederationNode[] = [];
  afterAll(async () => {
    for (const node of started) await node.stop();
  });
  // Each node its own trusted key: B binds a key to the one deployment it negotiated for.
  const startC = async (deployment: string, options: Partial<FederationNodeOptions>, key = keys.relayed) => {
    const client = await federationClient(server.url, key, trusted);
    clients.push(client);
    const node = await startNode(client, deployment, "0.2", indexes, key, trusted, options);
    started.push(node);
    return node;
  };

  it("cannot be claimed by another trusted key, even first; its own key negotiates, and forget does not release it", async () => {
    const nodeC = await startC(C, { knownPeers: { [B]: keys.b.keyId } });
    // Another key the nodes trust speaks for B before B ever negotiated with C: bound on first use, it would hold B's name.
    const squat = await ask(negotiateSubject(C), offerOfB({}, keys.other, { audience: C, nonce: "squat-1" }));
    expect(squat.rejection).toMatchObject({ code: ErrorCode.NegotiationInvalid, message: expect.stringContaining(keys.b.keyId) });
    expect(nodeC.agreements.get(B)).toBeUndefined();
    expect(await nodeB.negotiate(C)).toMatchObject({ version: "0.1" });
    expect(nodeC.agreements.get(B)?.peer.signer).toBe(keys.b.keyId);
    nodeC.forget(B);
    expect((await ask(negotiateSubject(C), offerOfB({}, keys.other, { audience: C, nonce: "squat-2" }))).rejection?.code).toBe(ErrorCode.NegotiationInvalid);
    expect(nodeC.agreements.get(B)).toBeUndefined();
  });

  it("with knownPeersOnly, no other deployment negotiates, signed by a trusted key or not", async () => {
    const nodeD = await startC("deployment-d", { knownPeers: { [B]: keys.b.keyId }, knownPeersOnly: true }, keys.flood);
    const stranger = await ask(negotiateSubject("deployment-d"), offerOfB({ deployment: "deployment-x" }, keys.other, { audience: "deployment-d", nonce: "x-1" }));
    expect(stranger.rejection).toMatchObject({ code: ErrorCode.NegotiationInvalid, message: expect.stringContaining("not among the known peers") });
    expect([...nodeD.agreements.keys()]).toEqual([]);
    expect(await nodeB.negotiate("deployment-d")).toMatchObject({ version: "0.1" });
    expect([...nodeD.agreements.keys()]).toEqual([B]);
  });

  it("is refused up front as ONEX_E_USAGE when it is no map of names to key ids", async () => {
    for (const knownPeers of [{ [B]: 5 }, { "": keys.b.keyId }, { [B]: keys.b.keyId, [C]: keys.b.keyId }, null]) {
      await expect(startC("deployment-e", { knownPeers: knownPeers as never })).rejects.toMatchObject({ code: ErrorCode.Usage });
    }
  });
});

describe("a schema index served over HTTP", () => {
  let http: Server | undefined;
  afterAll(() => http?.close());

  it("that never ends is ONEX_E_SCHEMA_INDEX_UNAVAILABLE, read no further than its bound", async () => {
    let sent = 0;
    http = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      const chunk = Buffer.alloc(1 << 20, 0x20);
      const more = () => {
        while (sent < 64 << 20 && res.write(chunk)) sent += chunk.length;
        if (sent < 64 << 20) res.once("drain", more);
      };
      more();
    });
    await new Promise<void>((resolve) => http!.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/index.json`;
    const error = await probe(url, { known: indexes, timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.SchemaIndexUnavailable, message: expect.stringContaining("more than") });
    expect(sent).toBeLessThan(64 << 20);
  });
});
