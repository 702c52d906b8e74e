/**
 * Rejection and probing against a real nats-server: a peer at the unknown version 9.9 is
 * rejected from both ends of the handshake with ONEX_E_INCOMPATIBLE_PEER and a message that
 * names both sides' versions; its messages are refused, not lost; a peer whose v0.1 schemas
 * hash differently is flagged by probe and rejected with ONEX_E_SCHEMA_HASH_MISMATCH.
 */
import { createServer, type Server } from "node:http";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { connect, headers as natsHeaders } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { versionGraph } from "../../generated/transforms/index.js";
import { ErrorCode, isOnexError, type OnexError } from "../../runtime/errors.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { OnexHeader } from "../../runtime/jetstream/headers.js";
import { agreeOnVersion, buildOffer, freshOffer, type Agreement, type ProtocolOffer } from "../../runtime/negotiation/agreement.js";
import { FederationNode } from "../../runtime/negotiation/federation-node.js";
import { negotiate } from "../../runtime/negotiation/handshake.js";
import { negotiateSubject, schemasSubject, serveNegotiation, type NegotiationService, type SchemasDocument } from "../../runtime/negotiation/negotiation-service.js";
import { probe } from "../../runtime/negotiation/probe.js";
import { contentHashOf, readSchemaIndex, type SchemaIndex } from "../../runtime/negotiation/schema-index.js";
import { generateKeyPair, keyRing, type KeyPair } from "../../runtime/trust/keys.js";
import { signRecord } from "../../runtime/trust/record-signature.js";
import { signMessage } from "../../runtime/trust/sign-message.js";
import { BUNDLED_VERSIONS } from "../support/bundled-versions.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { SDKS, sampleMessage } from "./samples.js";
import { applyAllStreams, bundledIndexes, federationClient, receiveAll, startNode } from "./support.js";

let server: NatsServer;
let client: OnexClient;
let node: FederationNode;
let indexes: SchemaIndex[];
let folder: string;
const services: NegotiationService[] = [];
const key = generateKeyPair();
// Keys the node trusts for the peers whose offers these tests send by hand: a handshake is recorded only from a fresh offer a trusted key signed, one key per deployment.
const peerKeys = { future: generateKeyPair(), opener: generateKeyPair(), halfBacked: generateKeyPair() };

/** An index of `version` cloned from v0.2's, with a consistent content hash. */
function futureIndex(version: string): SchemaIndex {
  const base = structuredClone(indexes.find((i) => i.version === "0.2")!);
  const index = { ...base, version, compatible_with: ["9.8"], schema_manifest_url: `https://onex.dev/schemas/v${version}/manifest.yaml` };
  return { ...index, content_hash: contentHashOf({ version, messages: index.messages, schemas: index.schemas }) };
}

/** A released version's index with one schema changed (as a deployment running edited schemas would publish it), with a consistent content hash. */
function editedIndex(version: string): SchemaIndex {
  const index = structuredClone(indexes.find((i) => i.version === version)!);
  index.schemas.find((s) => s.name === "StateUpdatePayload")!.hash = `sha256:${"0".repeat(64)}`;
  return { ...index, content_hash: contentHashOf({ version: index.version, messages: index.messages, schemas: index.schemas }) };
}

/** Answers the schemas probe of `name` with `indexes`, signed by `key` for the probe's nonce, as a FederationNode's service answers it. */
function serveSignedSchemas(name: string, protocol: ProtocolOffer["protocol"], indexes: SchemaIndex[], key: KeyPair) {
  return client.nc.subscribe(schemasSubject(name), {
    callback: (_error, msg) => {
      const { nonce } = JSON.parse(new TextDecoder().decode(msg.data)) as { nonce: string };
      msg.respond(json(signRecord<SchemasDocument>({ kind: "onex.schemas/1", deployment: name, protocol, indexes, signer: key.keyId, in_reply_to: nonce }, key)));
    },
  });
}

/** A JSON answer's bytes. */
const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const protocolOf = (index: SchemaIndex) => ({ version: index.version, compatible_with: index.compatible_with, declared_by: "onex", schema_manifest_url: index.schema_manifest_url });

beforeAll(async () => {
  server = await startNatsServer();
  await applyAllStreams(server.url);
  indexes = await bundledIndexes();
  client = await federationClient(server.url, key, [key]);
  node = await startNode(client, "deployment-v0.2", "0.2", indexes, key, [key, ...Object.values(peerKeys)]);
  folder = await mkdtemp(join(tmpdir(), "onex-negotiation-"));
  // A deployment at the unknown version 9.9, served on the same server.
  const future = futureIndex("9.9");
  services.push(serveNegotiation(client.nc, { deployment: "deployment-v9.9", protocol: protocolOf(future), indexes: [future] }));
  // A deployment at v0.1 whose schemas were edited without a new version.
  const edited = editedIndex("0.1");
  services.push(serveNegotiation(client.nc, { deployment: "deployment-edited", protocol: protocolOf(edited), indexes: [edited] }));
  await client.nc.flush();
});

afterAll(async () => {
  for (const s of services) await s.stop();
  await node?.stop();
  await client?.close();
  await server?.stop();
  if (folder) await rm(folder, { recursive: true, force: true });
});

describe("a peer at unknown version 9.9", () => {
  it("is rejected when it opens the handshake, with both versions named and what would make them compatible", async () => {
    const offer: ProtocolOffer = freshOffer(buildOffer({ deployment: "deployment-v9.9", protocol: protocolOf(futureIndex("9.9")), indexes: [futureIndex("9.9")] }), peerKeys.future, { audience: "deployment-v0.2", nonce: "nonce-9.9" });
    const error = (await negotiate(client.nc, offer, "deployment-v0.2").catch((e: unknown) => e)) as OnexError;
    expect(isOnexError(error, ErrorCode.IncompatiblePeer)).toBe(true);
    expect(error.message).toContain("v9.9");
    expect(error.message).toContain("v0.2");
    expect(error.message).toMatch(/To make them compatible/);
    expect(error.message).toContain("schemas/v9.9/from-v0.2.yaml");
    // The responder recorded it too.
    expect(node.rejections.get("deployment-v9.9")?.code).toBe(ErrorCode.IncompatiblePeer);
    expect(node.agreements.has("deployment-v9.9")).toBe(false);
  });

  it("is rejected when we open the handshake, and nothing can be sent to it", async () => {
    const error = (await node.negotiate("deployment-v9.9").catch((e: unknown) => e)) as OnexError;
    expect(isOnexError(error, ErrorCode.IncompatiblePeer)).toBe(true);
    expect(error.message).toMatch(/"deployment-v9\.9" \(v9\.9, compatible with v9\.8\) and "deployment-v0\.2" \(v0\.2, compatible with v0\.1\) share no protocol version/);
    expect(error.details.peer).toMatchObject({ version: "9.9" });
    const send = await node.publish(sampleMessage("0.2", "signal.state.update", "n-x"), { to: "deployment-v9.9" }).catch((e: unknown) => e);
    expect(isOnexError(send, ErrorCode.IncompatiblePeer)).toBe(true);
  });

  it("has its messages on the stream refused with ONEX_E_UNKNOWN_VERSION, after verifying them, not lost", async () => {
    const data = sampleMessage("0.2", "signal.state.update", "n-future").toJSON() as { protocol: { version: string } } & Record<string, unknown>;
    data.protocol = { ...data.protocol, version: "9.9" };
    const signed = signMessage(data, key);
    const h = natsHeaders();
    h.set(OnexHeader.Type, "signal.state.update");
    h.set(OnexHeader.Version, "9.9");
    const ack = await jetstream(client.nc).publish(subjectOf(data), JSON.stringify(signed), { headers: h, msgID: String(data.id) });
    const got = await receiveAll(node, 1, 5_000, { fromSequence: ack.seq });
    expect(got.deliveries).toEqual([]);
    expect(got.refusals).toHaveLength(1);
    expect(got.refusals[0]).toMatchObject({ code: ErrorCode.UnknownVersion, fromVersion: "9.9", toVersion: "0.2", signer: key.keyId, sequence: ack.seq });
  });

  it("is listed by probe with its version, hash, and as unknown here", async () => {
    const result = await probe("deployment-v9.9", { nc: client.nc, known: indexes });
    expect(result.deployment).toBe("deployment-v9.9");
    expect(result.versions).toEqual([expect.objectContaining({ version: "9.9", known: false })]);
  });
});

describe("schema hashes", () => {
  it("flag a peer whose v0.1 differs from the known v0.1, naming the schema", async () => {
    const result = await probe("deployment-edited", { nc: client.nc, known: indexes });
    expect(result.versions).toHaveLength(1);
    expect(result.versions[0]).toMatchObject({ version: "0.1", known: true, matches: false, differingSchemas: ["StateUpdatePayload"], flag: { code: ErrorCode.SchemaHashMismatch } });
  });

  it("flag a peer that publishes v0.1 on other subjects, naming the template; an index from before templates were listed still reads", async () => {
    const moved = structuredClone(indexes.find((i) => i.version === "0.1")!);
    // The same schemas (the same content hash), with the entity's id and type swapped in the subject.
    moved.subjects = { ...moved.subjects, event: "jetstream.onex.zone.{/source/zone}.{/source/entity_id}.{/source/entity_type}.events" };
    const file = join(folder, "moved.json");
    await writeFile(file, JSON.stringify(moved));
    expect((await probe(file, { known: indexes })).versions[0]).toMatchObject({ matches: false, differingSchemas: ["subject event"], flag: { code: ErrorCode.SchemaHashMismatch, message: "v0.1 is published on other subjects than this node publishes it (differing: subject event)" } });

    // An index written before subjects were listed matches on its schemas alone.
    const { subjects: _subjects, ...older } = structuredClone(indexes.find((i) => i.version === "0.1")!);
    await writeFile(file, JSON.stringify(older));
    expect((await probe(file, { known: indexes })).versions[0]).toMatchObject({ matches: true });
  });

  it("reject a peer whose only shared version hashes differently", async () => {
    const error = (await node.negotiate("deployment-edited").catch((e: unknown) => e)) as OnexError;
    expect(isOnexError(error, ErrorCode.SchemaHashMismatch)).toBe(true);
    expect(error.message).toContain("v0.1");
  });

  it("match for the bundled deployment over NATS, from a file and from an http URL", async () => {
    const overNats = await probe("deployment-v0.2", { nc: client.nc, known: indexes });
    expect(overNats.protocol?.version).toBe("0.2");
    expect(overNats.versions.map((v) => [v.version, v.matches])).toEqual(BUNDLED_VERSIONS.map((v) => [v, true]));

    const file = join(folder, "v0.1.json");
    await writeFile(file, JSON.stringify(indexes.find((i) => i.version === "0.1")));
    expect((await probe(file, { known: indexes })).versions).toEqual([expect.objectContaining({ version: "0.1", matches: true })]);
    expect((await probe(`file://${file}`, { known: indexes })).versions[0]?.matches).toBe(true);

    const body = await readFile(file, "utf8");
    const http: Server = createServer((req, res) => {
      if (req.url === "/index.json") res.writeHead(200, { "content-type": "application/json" }).end(body);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const { port } = http.address() as { port: number };
    try {
      expect((await probe(`http://127.0.0.1:${port}/index.json`, { known: indexes })).versions[0]?.matches).toBe(true);
      const missing = await probe(`http://127.0.0.1:${port}/nope.json`, { known: indexes }).catch((e: unknown) => e);
      expect(isOnexError(missing, ErrorCode.SchemaIndexUnavailable)).toBe(true);
      expect(isOnexError(await readSchemaIndex(`http://127.0.0.1:${port}/index.json`).then(() => undefined, (e: unknown) => e))).toBe(false);
    } finally {
      await new Promise((resolve) => http.close(resolve));
    }
  });

  it("catch an index edited without its content hash", async () => {
    const index = structuredClone(indexes.find((i) => i.version === "0.1")!);
    index.messages.pop();
    const file = join(folder, "truncated.json");
    await writeFile(file, JSON.stringify(index));
    const error = await readSchemaIndex(file).catch((e: unknown) => e);
    expect(isOnexError(error, ErrorCode.SchemaHashMismatch)).toBe(true);
  });
});

describe("hostile peers", () => {
  it("an answer with no body and a header nats.js cannot read is ONEX_E_NEGOTIATION_INVALID, and the connection goes on reading", async () => {
    const hostile = await connect({ servers: server.url });
    try {
      hostile.subscribe(negotiateSubject("deployment-hostile"), {
        callback: (_error, msg) => {
          const h = natsHeaders();
          (h as unknown as { headers: Map<string, string[]> }).headers.set("Bad Name", ["x"]);
          msg.respond(new Uint8Array(0), { headers: h });
        },
      });
      await hostile.flush();
      const answered = await node.negotiate("deployment-hostile").catch((e: unknown) => e);
      expect(isOnexError(answered, ErrorCode.NegotiationInvalid)).toBe(true);
      // Its read loop stopped, the connection would hear nothing again: the next handshake would time out.
      const next = (await node.negotiate("deployment-v9.9").catch((e: unknown) => e)) as OnexError;
      expect(next.code).toBe(ErrorCode.IncompatiblePeer);
    } finally {
      await hostile.close();
    }
  });
});

describe("unreachable peers", () => {
  it("time out with ONEX_E_NEGOTIATION_TIMEOUT when nothing serves the deployment", async () => {
    const handshake = await node.negotiate("nobody-home").catch((e: unknown) => e);
    expect(isOnexError(handshake, ErrorCode.NegotiationTimeout)).toBe(true);
    const probed = await probe("nobody-home", { nc: client.nc, known: indexes, timeoutMs: 300 }).catch((e: unknown) => e);
    expect(isOnexError(probed, ErrorCode.NegotiationTimeout)).toBe(true);
  });
});

describe("timeouts", () => {
  it("a timeout no request can wait is ONEX_E_USAGE before anything is sent or served (0 or NaN waited nats.js's default second)", async () => {
    const v02 = indexes.find((i) => i.version === "0.2")!;
    const offer = buildOffer({ deployment: "deployment-hasty", protocol: protocolOf(v02), indexes });
    const usage = { code: ErrorCode.Usage, message: expect.stringContaining("timeoutMs") };
    for (const timeoutMs of [0, Number.NaN, -1]) {
      await expect(negotiate(client.nc, offer, "deployment-v0.2", { timeoutMs })).rejects.toMatchObject(usage);
      await expect(probe("deployment-v0.2", { nc: client.nc, known: indexes, timeoutMs })).rejects.toMatchObject(usage);
      expect(() => serveNegotiation(client.nc, { deployment: "deployment-hasty", protocol: protocolOf(v02), indexes, probeTimeoutMs: timeoutMs })).toThrow(expect.objectContaining({ ...usage, message: expect.stringContaining("probeTimeoutMs") }));
      await expect(FederationNode.start({ client, connection: client.nc, deployment: "deployment-hasty", sdk: SDKS["0.2"]!, sources: Object.values(SDKS), graph: versionGraph, indexes, identity: key, keys: keyRing([key.publicKey]), timeoutMs })).rejects.toMatchObject(usage);
      // Over HTTP, 0 or NaN aborted the request at once and blamed the server (ONEX_E_SCHEMA_INDEX_UNAVAILABLE).
      await expect(readSchemaIndex("http://127.0.0.1:1/index.json", { timeoutMs })).rejects.toMatchObject(usage);
    }
    // Nothing answers for the deployment a refused service or node would have served.
    const probed = await probe("deployment-hasty", { nc: client.nc, known: indexes, timeoutMs: 300 }).catch((e: unknown) => e);
    expect(isOnexError(probed, ErrorCode.NegotiationTimeout)).toBe(true);
    expect((await negotiate(client.nc, offer, "deployment-v0.2", { timeoutMs: Infinity })).version).toBe("0.2");
  });
});

describe("a peer whose answer disagrees with the rule", () => {
  it("is refused with ONEX_E_NEGOTIATION_INVALID naming both agreements, not taken at its word", async () => {
    const v02 = indexes.find((i) => i.version === "0.2")!;
    const offer = buildOffer({ deployment: "deployment-liar", protocol: protocolOf(v02), indexes });
    const honest = agreeOnVersion(offer, offer);
    const claimed = { ...honest, version: honest.version === "0.1" ? "0.2" : "0.1" };
    // Its schemas are the bundled ones; only its answer says something the rule does not.
    const subscriptions = [
      client.nc.subscribe(schemasSubject("deployment-liar"), { callback: (_error, msg) => void msg.respond(json({ kind: "onex.schemas/1", deployment: "deployment-liar", protocol: offer.protocol, indexes })) }),
      client.nc.subscribe(negotiateSubject("deployment-liar"), { callback: (_error, msg) => void msg.respond(json({ kind: "onex.answer/1", offer, agreement: claimed })) }),
    ];
    try {
      await client.nc.flush();
      const error = (await node.negotiate("deployment-liar").catch((e: unknown) => e)) as OnexError;
      expect(isOnexError(error, ErrorCode.NegotiationInvalid)).toBe(true);
      expect(error.message).toContain(`agreed on ${claimed.mode} v${claimed.version}, but this side computed ${honest.mode} v${honest.version}`);
    } finally {
      for (const subscription of subscriptions) subscription.unsubscribe();
    }
  });
});

describe("a peer held to the indexes it publishes", () => {
  const v01 = () => indexes.find((i) => i.version === "0.1")!;
  const ours = () => buildOffer({ deployment: "deployment-holding", protocol: protocolOf(v01()), indexes: [v01()] });
  /** A peer offering the released v0.1, answering the handshake as honestly as it can, publishing `published` (or nothing). */
  const peer = (name: string, published: SchemaIndex[] | undefined) => {
    const offer = buildOffer({ deployment: name, protocol: protocolOf(v01()), indexes: [v01()] });
    return [
      ...(published === undefined ? [] : [client.nc.subscribe(schemasSubject(name), { callback: (_error, msg) => void msg.respond(json({ kind: "onex.schemas/1", deployment: name, protocol: offer.protocol, indexes: published })) })]),
      client.nc.subscribe(negotiateSubject(name), { callback: (_error, msg) => void msg.respond(json({ kind: "onex.answer/1", offer, agreement: agreeOnVersion(offer, ours()) })) }),
    ];
  };

  it("is rejected when the v0.1 it publishes is not the v0.1 its offer names, though that index verifies", async () => {
    const subscriptions = peer("deployment-two-faced", [editedIndex("0.1")]);
    try {
      await client.nc.flush();
      const error = await negotiate(client.nc, ours(), "deployment-two-faced").catch((e: unknown) => e);
      expect(error).toMatchObject({ code: ErrorCode.SchemaHashMismatch });
      expect((error as OnexError).message).toContain(v01().content_hash);
    } finally {
      for (const subscription of subscriptions) subscription.unsubscribe();
    }
  });

  it("is rejected by the deployment it opens the handshake with, too, when nothing it publishes backs a version both speak", async () => {
    const name = "deployment-two-faced-opener";
    const v02 = indexes.find((i) => i.version === "0.2")!;
    // It offers v0.2 as released, and publishes an edited v0.2.
    const offer = freshOffer(buildOffer({ deployment: name, protocol: protocolOf(v02), indexes: [v02] }), peerKeys.opener, { audience: "deployment-v0.2", nonce: "nonce-opener" });
    const subscription = serveSignedSchemas(name, offer.protocol, [editedIndex("0.2")], peerKeys.opener);
    try {
      await client.nc.flush();
      const error = await negotiate(client.nc, offer, "deployment-v0.2").catch((e: unknown) => e);
      expect(error).toMatchObject({ code: ErrorCode.SchemaHashMismatch });
      expect(node.rejections.get(name)?.code).toBe(ErrorCode.SchemaHashMismatch);
    } finally {
      subscription.unsubscribe();
    }
  });

  it("has a version its indexes do not back left unused, flagged, in an agreement on another", async () => {
    const name = "deployment-half-backed";
    const v02 = indexes.find((i) => i.version === "0.2")!;
    // It speaks v0.2 and v0.1 as released, but publishes only v0.1's index and an edited v0.2.
    const offer = freshOffer(buildOffer({ deployment: name, protocol: { ...protocolOf(v02), compatible_with: ["0.1"] }, indexes: [v01(), v02] }), peerKeys.halfBacked, { audience: "deployment-v0.2", nonce: "nonce-half" });
    const subscription = serveSignedSchemas(name, offer.protocol, [v01(), editedIndex("0.2")], peerKeys.halfBacked);
    try {
      await client.nc.flush();
      // Its handshake, as it sends it: what it makes of the answer is its own affair.
      const answer = JSON.parse(new TextDecoder().decode((await client.nc.request(negotiateSubject("deployment-v0.2"), json(offer), { timeout: 5_000 })).data)) as { agreement?: Agreement };
      for (const agreement of [answer.agreement!, node.agreements.get(name)!]) {
        expect(agreement.version).toBe("0.1");
        expect(agreement.unused).toContain("0.2");
        expect(agreement.flags.map((f) => [f.code, f.version])).toContainEqual([ErrorCode.SchemaHashMismatch, "0.2"]);
      }
    } finally {
      subscription.unsubscribe();
    }
  });

  it("is not agreed with when it publishes no indexes at all: nothing backs its offer", async () => {
    const subscriptions = peer("deployment-silent", undefined);
    try {
      await client.nc.flush();
      const error = await negotiate(client.nc, ours(), "deployment-silent", { timeoutMs: 300 }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: ErrorCode.NegotiationTimeout });
    } finally {
      for (const subscription of subscriptions) subscription.unsubscribe();
    }
  });
});

describe("an answer from another deployment", () => {
  it("is refused with ONEX_E_NEGOTIATION_INVALID naming who answered: another deployment's offer, replayed, makes no agreement with the one asked", async () => {
    const v02 = indexes.find((i) => i.version === "0.2")!;
    const ours = buildOffer({ deployment: "deployment-asking", protocol: protocolOf(v02), indexes });
    // Deployment Z's own signed offer, and its schemas served where Z serves them: only the deployment it names is wrong.
    const theirs = buildOffer({ deployment: "deployment-z", protocol: protocolOf(v02), indexes, identity: key });
    const subscriptions = [
      client.nc.subscribe(schemasSubject("deployment-z"), { callback: (_error, msg) => void msg.respond(json({ kind: "onex.schemas/1", deployment: "deployment-z", protocol: theirs.protocol, indexes })) }),
      client.nc.subscribe(negotiateSubject("deployment-y"), { callback: (_error, msg) => void msg.respond(json({ kind: "onex.answer/1", offer: theirs, agreement: agreeOnVersion(ours, theirs) })) }),
    ];
    try {
      await client.nc.flush();
      const error = await negotiate(client.nc, ours, "deployment-y", { keys: keyRing([key.publicKey]) }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: ErrorCode.NegotiationInvalid, details: { peer: "deployment-y", answeredBy: "deployment-z" } });
    } finally {
      for (const subscription of subscriptions) subscription.unsubscribe();
    }
  });
});

describe("a peer whose answer holds any JSON where a rejection or an agreement goes", () => {
  it("is refused with a negotiation code naming it, never an exception of its making", async () => {
    const v02 = indexes.find((i) => i.version === "0.2")!;
    const offer = buildOffer({ deployment: "deployment-odd", protocol: protocolOf(v02), indexes });
    const hostile = { toString: 1, valueOf: 2 };
    const answers: [Record<string, unknown>, string, string][] = [
      [{ rejection: null }, ErrorCode.NegotiationInvalid, "a rejection that is not an object"],
      [{ rejection: 5 }, ErrorCode.NegotiationInvalid, "a rejection that is not an object"],
      [{ rejection: { message: hostile } }, ErrorCode.IncompatiblePeer, 'rejected the handshake: {"toString":1,"valueOf":2}'],
      [{ rejection: { code: ErrorCode.SchemaHashMismatch, message: ["a", 1] } }, ErrorCode.SchemaHashMismatch, 'rejected the handshake: ["a",1]'],
      [{ agreement: null }, ErrorCode.NegotiationInvalid, "agreed on nothing"],
      [{ agreement: 7 }, ErrorCode.NegotiationInvalid, "agreed on nothing"],
      [{ agreement: { mode: hostile, version: [] } }, ErrorCode.NegotiationInvalid, 'agreed on {"toString":1,"valueOf":2} v[]'],
    ];
    let answer: Record<string, unknown> = {};
    const subscriptions = [
      client.nc.subscribe(schemasSubject("deployment-odd"), { callback: (_error, msg) => void msg.respond(json({ kind: "onex.schemas/1", deployment: "deployment-odd", protocol: offer.protocol, indexes })) }),
      client.nc.subscribe(negotiateSubject("deployment-odd"), { callback: (_error, msg) => void msg.respond(json({ kind: "onex.answer/1", offer, ...answer })) }),
    ];
    try {
      await client.nc.flush();
      const outcomes = [];
      for (const [sent] of answers) {
        answer = sent;
        const error = await negotiate(client.nc, offer, "deployment-odd").then(
          () => "agreed",
          (e: unknown) => (isOnexError(e) ? [e.code, e.message] : String(e)),
        );
        outcomes.push(error);
      }
      expect(outcomes).toEqual(answers.map(([, code, text]) => [code, expect.stringContaining(text)]));
    } finally {
      for (const subscription of subscriptions) subscription.unsubscribe();
    }
  });
});

describe("the agreement rule", () => {
  it("is symmetric for every pair of bundled versions, and rejects v0.0.9 with v0.2 only without adapters", () => {
    const offers = indexes.map((i) => buildOffer({ deployment: `d-${i.version}`, protocol: protocolOf(i), indexes, graph: versionGraph }));
    for (const a of offers) {
      for (const b of offers) {
        if (a === b) continue;
        const ab = agreeOnVersion(a, b);
        const ba = agreeOnVersion(b, a);
        expect([ab.mode, ab.version, ab.convertedBy]).toEqual([ba.mode, ba.version, ba.convertedBy]);
      }
    }
    // Without generated adapters, v0.0.9 and v0.2 share nothing: the fallback exists only through them.
    const bare = (v: string) => buildOffer({ deployment: `d-${v}`, protocol: protocolOf(indexes.find((i) => i.version === v)!), indexes });
    expect(() => agreeOnVersion(bare("0.0.9"), bare("0.2"))).toThrow(/share no protocol version/);
    expect(agreeOnVersion(bare("0.1"), bare("0.2"))).toMatchObject({ mode: "direct", version: "0.1" });
  });
});

function subjectOf(data: Record<string, unknown>): string {
  const source = data.source as { zone: string; entity_type: string; entity_id: string };
  return sampleMessage("0.2", "signal.state.update", source.entity_id).subject();
}
