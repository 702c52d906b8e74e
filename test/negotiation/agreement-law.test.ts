/**
 * An agreement is the law of the link, on every path. The tests act as fellow peers on a
 * real nats-server: one publishes a v0.1 index edited without its content hash (so its
 * offer claims the released hash), one runs edited v0.2 schemas while sharing v0.1. Each
 * also publishes messages signed with the key its offer is signed with. What `onex
 * negotiate` refuses the API handshake refuses; messages in a version not used with their
 * sender are refused, not converted; a message sent to a peer travels in the agreed version.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, isOnexError, type OnexError } from "../../runtime/errors.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import type { FederationNode } from "../../runtime/negotiation/federation-node.js";
import { serveNegotiation, type NegotiationService } from "../../runtime/negotiation/negotiation-service.js";
import { contentHashOf, type SchemaIndex } from "../../runtime/negotiation/schema-index.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { BUNDLED_VERSION_FOLDERS } from "../support/bundled-versions.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { runCliAsync } from "../support/cli-process.js";
import { sampleMessage } from "./samples.js";
import { applyAllStreams, bundledIndexes, federationClient, receiveAll, startNode } from "./support.js";

let server: NatsServer;
let indexes: SchemaIndex[];
let node: FederationNode;
const clients: OnexClient[] = [];
const services: NegotiationService[] = [];
const keys = { node: generateKeyPair(), stale: generateKeyPair(), edited: generateKeyPair() };
const protocolOf = (index: SchemaIndex) => ({ version: index.version, compatible_with: index.compatible_with, declared_by: "onex", schema_manifest_url: index.schema_manifest_url });

/** v0.1's index with one schema edited and the declared content hash left as released: it no longer verifies. */
function staleV01Index(): SchemaIndex {
  const index = structuredClone(indexes.find((i) => i.version === "0.1")!);
  index.schemas.find((s) => s.name === "StateUpdatePayload")!.hash = `sha256:${"0".repeat(64)}`;
  return index;
}

/** v0.2's index with one schema edited and its hash recomputed: consistent, but not the released v0.2. */
function editedV02Index(): SchemaIndex {
  const index = structuredClone(indexes.find((i) => i.version === "0.2")!);
  index.schemas.find((s) => s.name === "StateUpdatePayload")!.hash = `sha256:${"1".repeat(64)}`;
  return { ...index, content_hash: contentHashOf({ version: index.version, messages: index.messages, schemas: index.schemas }) };
}

beforeAll(async () => {
  server = await startNatsServer();
  await applyAllStreams(server.url);
  indexes = await bundledIndexes();
  const all = Object.values(keys);
  const nodeClient = await federationClient(server.url, keys.node, all);
  clients.push(nodeClient);
  node = await startNode(nodeClient, "deployment-v0.2", "0.2", indexes, keys.node, all);
  for (const [deployment, index, identity, extra] of [
    ["deployment-stale", staleV01Index(), keys.stale, []],
    ["deployment-edited", editedV02Index(), keys.edited, [indexes.find((i) => i.version === "0.1")!]],
  ] as const) {
    const client = await federationClient(server.url, identity, all);
    clients.push(client);
    services.push(serveNegotiation(client.nc, { deployment, protocol: protocolOf(index), indexes: [index, ...extra], identity }));
    await client.nc.flush();
  }
});

afterAll(async () => {
  for (const s of services) await s.stop();
  await node?.stop();
  for (const c of clients) await c.close();
  await server?.stop();
});

describe("a peer whose published v0.1 index does not verify", () => {
  it("is refused by the API handshake as onex negotiate refuses it", async () => {
    // A process of its own: the peer answers from this one.
    const cli = await runCliAsync(["negotiate", "--peer", "deployment-stale", "--as", "v0.2", "--server", server.url]);
    expect(cli.status).toBe(1);
    expect(cli.stderr).toContain(`error ${ErrorCode.SchemaHashMismatch}:`);

    const error = (await node.negotiate("deployment-stale").catch((e: unknown) => e)) as OnexError;
    expect(isOnexError(error, ErrorCode.SchemaHashMismatch)).toBe(true);
    expect(error.message).toMatch(/publishes a v0\.1 index that does not verify/);
    expect(node.agreements.has("deployment-stale")).toBe(false);
  });

  it("has its messages refused, not converted", async () => {
    const ack = await clients[1]!.publish(sampleMessage("0.1", "signal.state.update", "n-stale"));
    const got = await receiveAll(node, 1, 10_000, { fromSequence: ack.sequence });
    expect(got.deliveries).toEqual([]);
    expect(got.refusals).toEqual([expect.objectContaining({ code: ErrorCode.SchemaHashMismatch, fromVersion: "0.1", signer: keys.stale.keyId, sequence: ack.sequence })]);
  });
});

describe("a peer sharing v0.1 but running edited v0.2 schemas", () => {
  it("agrees on v0.1 with v0.2 unused", async () => {
    const agreement = await node.negotiate("deployment-edited");
    expect(agreement).toMatchObject({ mode: "direct", version: "0.1", unused: ["0.2"], peer: { signer: keys.edited.keyId } });
  });

  it("has its v0.2 messages refused and its v0.1 messages delivered", async () => {
    const edited = clients[2]!;
    const first = await edited.publish(sampleMessage("0.2", "signal.state.update", "n-edited"));
    await edited.publish(sampleMessage("0.1", "signal.state.update", "n-edited"));
    const got = await receiveAll(node, 2, 10_000, { fromSequence: first.sequence });
    expect(got.refusals.map((r) => [r.code, r.fromVersion, r.signer])).toEqual([[ErrorCode.SchemaHashMismatch, "0.2", keys.edited.keyId]]);
    expect(got.deliveries.map((d) => d.receivedVersion)).toEqual(["0.1"]);
  });

  it("is sent messages in the agreed v0.1, and listed as unable to read a v0.2 broadcast", async () => {
    const receipt = await node.publish(sampleMessage("0.2", "signal.state.update", "n-node"), { to: "deployment-edited" });
    const jsm = await jetstreamManager(clients[0]!.nc);
    const stored = await jsm.streams.getMessage(receipt.stream, { seq: receipt.sequence });
    expect((JSON.parse(new TextDecoder().decode(stored!.data)) as { protocol: { version: string } }).protocol.version).toBe("0.1");

    const broadcast = await node.publish(sampleMessage("0.2", "signal.state.update", "n-node"));
    expect(broadcast.refusedBy).toContainEqual(expect.objectContaining({ peer: "deployment-edited", code: ErrorCode.SchemaHashMismatch }));
  });
});

describe("an incompatible peer", () => {
  it("is told each version this side reads once", async () => {
    const future = structuredClone(indexes.find((i) => i.version === "0.2")!);
    const index = { ...future, version: "9.9", compatible_with: [] };
    const nine = { ...index, content_hash: contentHashOf({ version: "9.9", messages: index.messages, schemas: index.schemas }) };
    services.push(serveNegotiation(clients[0]!.nc, { deployment: "deployment-v9.9", protocol: protocolOf(nine), indexes: [nine] }));
    await clients[0]!.nc.flush();
    const error = (await node.negotiate("deployment-v9.9").catch((e: unknown) => e)) as OnexError;
    expect(error.code).toBe(ErrorCode.IncompatiblePeer);
    expect(error.message).toContain(`at one of ${BUNDLED_VERSION_FOLDERS.join(", ")}, or add a transform`);
  });
});
