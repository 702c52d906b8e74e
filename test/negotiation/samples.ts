/**
 * One valid message of every type of every bundled version, for the federation tests.
 * Written once, in v0.2 (the newest version), and migrated down with the generated adapters
 * for older versions, so a new type needs one sample here and nothing else.
 */
import * as v0_0_9 from "../../generated/v0.0.9/index.js";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { migrate } from "../../generated/transforms/index.js";
import type { NegotiatingSdk } from "../../runtime/negotiation/federation-node.js";
import type { PublishableMessage } from "../../runtime/protocol-sdk.js";

export const ZONE = "zone.federation.org";
export const SDKS = { "0.0.9": v0_0_9, "0.1": v0_1, "0.2": v0_2 } as unknown as Record<string, NegotiatingSdk>;

const HASH = `sha256:${"ab".repeat(32)}`;

/** v0.2 payloads by message type. */
const PAYLOADS: Record<string, Record<string, unknown>> = {
  "event.node.register": { node_id: "n-1", address: "10.0.0.1:7000", build: { fingerprint: HASH, version: "1.2.3" }, capabilities: ["train"] },
  "event.agent.started": { agent_id: "a-1", node_id: "n-1", capabilities: ["infer"] },
  "event.agent.stopped": { agent_id: "a-1", node_id: "n-1", exit_code: 0 },
  "event.node.failed": { node_id: "n-1", reason: { message: "disk full", code: "disk" }, severity: "error" },
  "signal.task.dispatch": { task_id: "t-1", targets: ["n-1"], operation: "train", priority: 5, input: { epochs: 3 } },
  "signal.result.ready": { task_id: "t-1", status: "succeeded", output: { loss: 0.1 } },
  "signal.state.update": { state: "running" },
  "event.artifact.announced": {
    descriptor: {
      name: "model/resnet",
      version: "1.0.0",
      media_type: "application/octet-stream",
      size: 1,
      piece_size: 16384,
      pieces: ["cd".repeat(32)],
      root_hash: HASH,
      publisher: "n-1",
      zone: ZONE,
      published_at: "2025-01-01T00:00:00.000Z",
    },
    peer_id: "n-1",
    endpoint: "http://10.0.0.1:7001/",
  },
  "signal.artifact.have": { root_hash: HASH, peer_id: "n-1", endpoint: "http://10.0.0.1:7001/", bitfield: "AQ", have: 1, complete: true },
  "signal.artifact.request": { peer_id: "n-1", root_hash: HASH },
};

/**
 * A fresh, valid `type` message of `version` from entity `entityId`, as an instance of that
 * version's class (unsigned: the client signs on publish). Throws when no sample exists.
 */
export function sampleMessage(version: string, type: string, entityId: string): PublishableMessage {
  const payload = PAYLOADS[type];
  if (payload === undefined) throw new Error(`no sample payload for ${type}: add one to test/negotiation/samples.ts`);
  const cls = v0_2.messageClasses[type as v0_2.MessageType];
  const newest = cls.create({
    source: { zone: ZONE, entity_type: "node", entity_id: entityId },
    trust: { signer: "unsigned", level: "verified", zone: ZONE, expires_at: new Date(Date.now() + 3_600_000).toISOString() },
    payload,
  } as never);
  const data = version === "0.2" ? newest.toJSON() : migrate(newest.toJSON(), "0.2", version);
  // Migration keeps a residue of what the older version cannot hold; a native old message has none.
  delete data._residue;
  return SDKS[version]!.messageClasses[type]!.parse(data) as unknown as PublishableMessage;
}

/** Every message type of `version`. */
export function typesOf(version: string): string[] {
  return Object.keys(SDKS[version]!.messageClasses).sort();
}
