/** Nodes, clients and collection helpers shared by the negotiation tests. */
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { versionGraph } from "../../generated/transforms/index.js";
import { connect, type OnexClient } from "../../runtime/jetstream/client.js";
import { applyStreams, planStreams } from "../../runtime/jetstream/streams.js";
import type { DeliverFrom } from "../../runtime/control-plane.js";
import type { Refusal, VersionedDelivery, VersionedSubscription } from "../../runtime/control-plane.js";
import { FederationNode, type FederationNodeOptions } from "../../runtime/negotiation/federation-node.js";
import { readSchemaIndex, type SchemaIndex } from "../../runtime/negotiation/schema-index.js";
import { keyRing, type KeyPair } from "../../runtime/trust/keys.js";
import { PROJECT_ROOT } from "../support/temp-schemas.js";
import { SDKS, ZONE } from "./samples.js";

/** The bundled schema indexes, read the way a deployment reads them. */
export async function bundledIndexes(): Promise<SchemaIndex[]> {
  return Promise.all(versionGraph.versions.map((v) => readSchemaIndex(join(PROJECT_ROOT, "generated", `v${v}`, "index.json"))));
}

/** Creates the streams every bundled version implies. */
export async function applyAllStreams(url: string): Promise<void> {
  const nc = await natsConnect({ servers: url });
  try {
    await applyStreams(await jetstreamManager(nc), planStreams(Object.values(SDKS)));
  } finally {
    await nc.close();
  }
}

/** A client signing with `identity`, trusting `trusted`, in the federation zone. */
export function federationClient(url: string, identity: KeyPair, trusted: KeyPair[]): Promise<OnexClient> {
  return connect({ servers: url, identity, keys: keyRing(trusted.map((k) => k.publicKey)), trust: { zone: ZONE, logger: { warn() {} } } });
}

/** A federation node running `version`, reading every bundled version; its offers are signed with `identity`, peers' verified with `trusted` (or `options.keys`, a resolver of the test's own). */
export function startNode(client: OnexClient, deployment: string, version: string, indexes: SchemaIndex[], identity: KeyPair, trusted: KeyPair[], options: Partial<FederationNodeOptions> = {}): Promise<FederationNode> {
  return FederationNode.start({
    ...options,
    client,
    connection: client.nc,
    deployment,
    sdk: SDKS[version]!,
    sources: Object.values(SDKS),
    graph: versionGraph,
    indexes,
    identity,
    keys: options.keys ?? keyRing(trusted.map((k) => k.publicKey)),
  });
}

/** What a receiver took in: deliveries (acknowledged) and refusals. */
export interface Received {
  deliveries: VersionedDelivery<unknown>[];
  refusals: Refusal[];
}

/**
 * Opens `node`'s versioned subscription and collects until `expected` messages were either
 * delivered or refused (or `timeoutMs` passed), then stops it.
 */
export async function receiveAll(node: FederationNode, expected: number, timeoutMs = 15_000, deliver: DeliverFrom = "all"): Promise<Received> {
  const received: Received = { deliveries: [], refusals: [] };
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const check = () => {
    if (received.deliveries.length + received.refusals.length >= expected) finish();
  };
  const sub: VersionedSubscription<unknown> = await node.subscribe({
    deliver,
    onRefusal: (refusal) => {
      received.refusals.push(refusal);
      check();
    },
  });
  const loop = (async () => {
    for await (const delivery of sub) {
      await delivery.ack();
      received.deliveries.push(delivery);
      check();
    }
  })();
  const timer = setTimeout(finish, timeoutMs);
  await done;
  clearTimeout(timer);
  await sub.stop();
  await loop;
  return received;
}
