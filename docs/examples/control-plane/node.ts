/**
 * A node that registers with its zone and reports its state on the control plane.
 *
 *   NATS_URL=nats://127.0.0.1:4222 node --import tsx docs/examples/control-plane/node.ts
 *
 * The first run creates a key in .onex-example/ and writes its public half for the agent.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { exportPrivateKey, exportPublicKey, generateKeyPair, importPrivateKey, keyRing } from "@onex/runtime";
import { connect } from "@onex/runtime/jetstream";
import * as v0_1 from "@onex/sdk/v0.1";

const dir = process.env.ONEX_EXAMPLE_DIR ?? ".onex-example";
const zone = "zone.trusted.org";
const nodeId = "node-1";

await mkdir(dir, { recursive: true });
const keyFile = `${dir}/node.key`;
const key = existsSync(keyFile) ? importPrivateKey(await readFile(keyFile, "utf8")) : generateKeyPair();
await writeFile(keyFile, exportPrivateKey(key), { mode: 0o600 });
await writeFile(`${dir}/node.pub`, exportPublicKey(key.publicKey));

const client = await connect({ servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222", identity: key, keys: keyRing([key.publicKey]) });
const trust = () => ({ signer: key.keyId, level: "verified" as const, zone, expires_at: new Date(Date.now() + 3_600_000).toISOString() });
const source = { zone, entity_type: "node" as const, entity_id: nodeId };

const register = v0_1.NodeRegister.create({
  source,
  trust: trust(),
  payload: { node_id: nodeId, address: `onex://${zone}/node/${nodeId}`, build_fingerprint: `sha256:${"0".repeat(64)}`, capabilities: ["render"] },
});
const receipt = await client.publish(register);
console.log(`registered ${nodeId} on ${receipt.subject} (stream ${receipt.stream} #${receipt.sequence})`);

for (const state of ["idle", "busy", "idle"] as const) {
  const update = v0_1.StateUpdate.create({ source, trust: trust(), payload: { state } });
  await client.publish(update);
  console.log(`state ${state}`);
}
await client.close();
