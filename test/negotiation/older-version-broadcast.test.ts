/**
 * Two deployments at v0.2 on the bundled SDK, over a real nats-server: one broadcasts a message
 * written in v0.1. The other reads every version its adapters convert (v0.0.9 and v0.1 up to its
 * own), so the receipt must not list it as refusing the message, and it receives it as v0.2.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import type { FederationNode } from "../../runtime/negotiation/federation-node.js";
import { declaredVersionOf } from "../../runtime/receive/pipeline.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { sampleMessage, typesOf } from "./samples.js";
import { applyAllStreams, bundledIndexes, federationClient, receiveAll, startNode } from "./support.js";

const keys = [generateKeyPair(), generateKeyPair()];
let server: NatsServer;
const clients: OnexClient[] = [];
const nodes: FederationNode[] = [];

beforeAll(async () => {
  server = await startNatsServer();
  await applyAllStreams(server.url);
  const indexes = await bundledIndexes();
  for (const [i, key] of keys.entries()) {
    const client = await federationClient(server.url, key, keys);
    clients.push(client);
    nodes.push(await startNode(client, `deployment-${i}`, "0.2", indexes, key, keys));
  }
});

afterAll(async () => {
  for (const node of nodes) await node.stop();
  for (const client of clients) await client.close();
  await server?.stop();
});

describe("a broadcast written in an older version than both nodes'", () => {
  it("names no peer as refusing it, and the peer receives it in its own version", async () => {
    const [sender, peer] = nodes as [FederationNode, FederationNode];
    expect(await sender.negotiate("deployment-1")).toMatchObject({ mode: "direct", version: "0.2" });
    const type = typesOf("0.1").find((t) => typesOf("0.2").includes(t))!;
    const message = sampleMessage("0.1", type, "node-old-class");
    const receipt = await sender.publish(message);
    expect(receipt.refusedBy).toEqual([]);
    const got = await receiveAll(peer, 1);
    expect(got.refusals).toEqual([]);
    // Received in v0.1, as sent, and handed over in the peer's own version.
    expect(got.deliveries.map((d) => [(d.message as { id: string }).id, d.receivedVersion, declaredVersionOf(d.message)])).toEqual([[message.id, "0.1", "0.2"]]);
  });
});
