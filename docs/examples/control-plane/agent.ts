/**
 * An agent that follows the nodes of its zone: every delivery it prints has been parsed,
 * validated, signature-checked against the node's key and judged by the trust policy.
 *
 *   NATS_URL=nats://127.0.0.1:4222 node --import tsx docs/examples/control-plane/agent.ts
 *
 * It trusts the key the node example wrote to .onex-example/node.pub, and stops after
 * EXAMPLE_COUNT messages (default: runs until interrupted).
 */
import { readFile } from "node:fs/promises";
import { generateKeyPair, importPublicKey, keyRing } from "@onex/runtime";
import { connect } from "@onex/runtime/jetstream";
import * as v0_1 from "@onex/sdk/v0.1";

const dir = process.env.ONEX_EXAMPLE_DIR ?? ".onex-example";
const nodeKey = importPublicKey(await readFile(`${dir}/node.pub`, "utf8"));
const limit = Number(process.env.EXAMPLE_COUNT ?? Number.POSITIVE_INFINITY);

const client = await connect({
  servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222",
  identity: generateKeyPair(),
  keys: keyRing([nodeKey]),
  // Nodes of this example sign with their own key (origin_check), in this zone (zone_match).
  trust: { zone: "zone.trusted.org", keyOfEntity: (entity) => (entity === "node-1" ? nodeKey.keyId : undefined) },
});

const subscription = await client.subscribe([v0_1.NodeRegister, v0_1.StateUpdate], { zone: "zone.trusted.org", durable: "example-agent" });
let seen = 0;
for await (const delivery of subscription) {
  const message = delivery.message;
  if (message instanceof v0_1.NodeRegister) console.log(`node ${message.payload.node_id} registered at ${message.payload.address}`);
  else console.log(`node ${message.source.entity_id} is ${message.payload.state}`);
  await delivery.ack();
  if (++seen >= limit) break;
}
await subscription.stop();
await client.close();
