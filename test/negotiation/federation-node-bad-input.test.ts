/**
 * FederationNode.start given, from plain JavaScript, what is not a node's parts, against a real
 * nats-server: each is refused with ONEX_E_USAGE naming the option, before anything is served.
 * Options of null and an sdk of null were raw TypeErrors; a connection without `flush` (a
 * connection-like object) a raw TypeError after the negotiation service had subscribed; the
 * control-plane client given as the connection was refused as serveNegotiation's "nc", an option
 * start does not have; a client or keys of the wrong kind were taken.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { versionGraph } from "../../generated/transforms/index.js";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import { onexFailure } from "../support/onex-failure.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { FederationNode, type FederationNodeOptions } from "../../runtime/negotiation/federation-node.js";
import type { SchemaIndex } from "../../runtime/negotiation/schema-index.js";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { SDKS } from "./samples.js";
import { bundledIndexes, federationClient } from "./support.js";

let server: NatsServer;
let client: OnexClient;
let indexes: SchemaIndex[];
const identity = generateKeyPair();

beforeAll(async () => {
  // Negotiation is plain NATS: no JetStream needed.
  server = await startNatsServer({ jetstream: false });
  client = await federationClient(server.url, identity, [identity]);
  indexes = await bundledIndexes();
});

afterAll(async () => {
  await client?.close();
  await server?.stop();
});

const options = (): FederationNodeOptions => ({
  client,
  connection: client.nc,
  deployment: "dc-bad-input",
  sdk: SDKS["0.2"]!,
  sources: Object.values(SDKS),
  graph: versionGraph,
  indexes,
  identity,
  keys: keyRing([identity.publicKey]),
});

async function failure(fn: () => Promise<unknown>): Promise<OnexError> {
  return onexFailure(async () => ((await fn()) as FederationNode).stop());
}

const start = (given: unknown) => (FederationNode.start as (options: unknown) => Promise<FederationNode>)(given);

/** A connection-like object: publish, subscribe and the rest serveNegotiation uses, but no flush. */
const withoutFlush = () => ({
  publish() {},
  subscribe: () => ({ unsubscribe() {}, drain: async () => {} }),
  isClosed: () => false,
  closed: () => new Promise(() => {}),
  status: async function* () {},
});

describe("FederationNode.start, given what the types forbid", () => {
  it.each<[string, () => unknown, RegExp]>([
    ["options of null", () => null, /^FederationNode\.start: options must be an object, not null$/],
    ["the client as the connection", () => ({ ...options(), connection: client }), /^FederationNode\.start: connection must be a NATS connection \(the client's own is client\.nc\), not the client$/],
    ["a connection of {}", () => ({ ...options(), connection: {} }), /^FederationNode\.start: connection\.publish must be a function/],
    ["a connection of null", () => ({ ...options(), connection: null }), /^FederationNode\.start: connection must be an object, not null$/],
    ["a connection that is an address", () => ({ ...options(), connection: server.url }), /^FederationNode\.start: connection must be an object, not "nats:/],
    ["a connection without flush", () => ({ ...options(), connection: withoutFlush() }), /^FederationNode\.start: connection\.flush must be a function/],
    ["a client of null", () => ({ ...options(), client: null }), /^FederationNode\.start: client must be an object, not null$/],
    ["a client of {}", () => ({ ...options(), client: {} }), /^FederationNode\.start: client\.publish must be a function/],
    ["an sdk of null", () => ({ ...options(), sdk: null }), /^FederationNode\.start: sdk must be a generated SDK module/],
    ["an sdk without its protocol block", () => ({ ...options(), sdk: { version: "0.2" } }), /^FederationNode\.start: sdk must be a generated SDK module/],
    ["sources of null", () => ({ ...options(), sources: null }), /^FederationNode\.start: sources must be an array/],
    ["keys of null", () => ({ ...options(), keys: null }), /^FederationNode\.start: keys must be a key resolver/],
    ["keys of a list of keys", () => ({ ...options(), keys: [identity.publicKey] }), /^FederationNode\.start: keys must be a key resolver/],
  ])("%s is ONEX_E_USAGE, naming it", async (_label, given, message) => {
    const error = await failure(() => start(given()));
    expect(error.code).toBe(ErrorCode.Usage);
    expect(error.message).toMatch(message);
  });

  it("starts with what the types allow, and serves nothing for a refused start", async () => {
    // A client that is none, on the real connection: once taken, the node served its subject from there.
    await failure(() => start({ ...options(), deployment: "dc-refused", client: {} }));
    // Nothing answers the refused node's negotiation subject.
    await expect(client.nc.request("onex.negotiate.dc-refused", undefined, { timeout: 1_000 })).rejects.toThrow(/no responders/);
    const node = await FederationNode.start(options());
    expect(node.deployment).toBe("dc-bad-input");
    await node.stop();
  });
});
