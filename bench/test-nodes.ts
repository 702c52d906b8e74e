/**
 * The registry bench's nodes: a real key, identity and signed, passing entry each. Made here
 * (`makeNode`, as a node signs its own entry before it registers it) or on another thread
 * (`nodesSignedElsewhere`, as every entry a registry reads was signed by some other process).
 * The difference matters: a record verified in the process that signed it is checked against what
 * was signed, without the Ed25519 arithmetic (runtime/trust/record-signature.ts).
 */
import { Worker, isMainThread, parentPort } from "node:worker_threads";
import { buildFingerprint, createNodeIdentity, generateKeyPair, publicKeyFromRaw, signRegistryEntry, verifyNodeIdentity, type NodeIdentityRecord, type RegistryEntryRecord } from "@onex/runtime";
import { nodeAddress } from "@onex/runtime/registry";

export interface TestNode {
  identity: NodeIdentityRecord;
  entry: RegistryEntryRecord;
  address: string;
}

export const BUILD = buildFingerprint("onex-test-build");

export function makeNode(zone = "zone.trusted.org"): TestNode {
  const key = generateKeyPair();
  const identity = createNodeIdentity(key, BUILD, zone);
  const address = nodeAddress(zone, identity.node_id);
  const entry = signRegistryEntry({ node_id: identity.node_id, address, zone, health: { status: "passing", interval_ms: 500 }, capabilities: ["compute"] }, key);
  return { identity, entry, address };
}

let worker: Worker | undefined;

/**
 * `count` nodes made and signed on a worker thread. Their keys and identities are met here once
 * before they are handed out (imported, the node id derived, the identity checked), as the bench's
 * rows leave a node's first sighting out and time it apart; their signatures were not made here,
 * so every verification verifies.
 */
export async function nodesSignedElsewhere(count: number): Promise<TestNode[]> {
  // A worker thread does not inherit the TypeScript loader the bench runs under: it registers it, then loads this file.
  if (worker === undefined) {
    worker = new Worker(`import("tsx/esm/api").then(({ register }) => { register(); return import(${JSON.stringify(import.meta.url)}); })`, { eval: true });
    worker.unref();
  }
  const thread = worker;
  const nodes = await new Promise<TestNode[]>((resolve, reject) => {
    thread.once("error", reject);
    thread.once("message", (made: TestNode[]) => {
      thread.off("error", reject);
      resolve(made);
    });
    thread.postMessage(count);
  });
  for (const node of nodes) {
    publicKeyFromRaw(node.identity.public_key);
    verifyNodeIdentity(node.identity);
  }
  return nodes;
}

if (!isMainThread) parentPort!.on("message", (count: number) => parentPort!.postMessage(Array.from({ length: count }, () => makeNode())));
