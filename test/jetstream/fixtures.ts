/** Messages, keys and clients shared by the JetStream tests. */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { connect, type ConnectOptions, type OnexClient } from "../../runtime/jetstream/client.js";
import { applyStreams, planStreams, type StreamLimits } from "../../runtime/jetstream/streams.js";
import { generateKeyPair, keyRing, type KeyPair } from "../../runtime/trust/keys.js";
import type { Subscription } from "../../runtime/control-plane.js";

export const ZONE = "zone.trusted.org";

/** Keys of a small deployment: a node that publishes, and a stranger nobody trusts. */
export function makeKeys(): { node: KeyPair; agent: KeyPair; stranger: KeyPair } {
  return { node: generateKeyPair(), agent: generateKeyPair(), stranger: generateKeyPair() };
}

/** A v0.1 state update from node `entityId`, expiring in an hour. */
export function stateUpdate(entityId = "n-1", state: "idle" | "busy" | "draining" | "offline" = "idle", signer = "unsigned"): v0_1.StateUpdate {
  return v0_1.StateUpdate.create({
    source: { zone: ZONE, entity_type: "node", entity_id: entityId },
    trust: { signer, level: "verified", zone: ZONE, expires_at: new Date(Date.now() + 3_600_000).toISOString() },
    payload: { state },
  });
}

/** A v0.1 task dispatch. */
export function taskDispatch(taskId: string): v0_1.TaskDispatch {
  return v0_1.TaskDispatch.create({
    source: { zone: ZONE, entity_type: "task", entity_id: taskId },
    trust: { signer: "unsigned", level: "verified", zone: ZONE, expires_at: new Date(Date.now() + 3_600_000).toISOString() },
    payload: { task_id: taskId, target: "n-1", action: "train", priority: 5, input: { epochs: 3 } },
  });
}

/** Creates the streams the bundled versions imply on the server at `url`. */
export async function applyBundledStreams(url: string, limits: StreamLimits = {}): Promise<void> {
  const nc = await natsConnect({ servers: url });
  try {
    await applyStreams(await jetstreamManager(nc), planStreams([v0_1, v0_2], limits));
  } finally {
    await nc.close();
  }
}

/** A client signing with `identity` and trusting `trusted` keys. */
export function client(url: string | string[], identity: KeyPair, trusted: KeyPair[], extra: Partial<ConnectOptions> = {}): Promise<OnexClient> {
  // Every source entity counts as registered with the first trusted key (origin_check).
  const keyOfEntity = () => trusted[0]?.keyId;
  return connect({ servers: url, identity, keys: keyRing(trusted.map((k) => k.publicKey)), trust: { zone: ZONE, keyOfEntity, logger: { warn() {} } }, ...extra });
}

/** Hands each delivery to a handler that acknowledges it until `done` holds for the stats (or 10 s pass), then stops; returns the ids handled. */
export async function handleUntil<M extends { id: string }>(sub: Subscription<M>, done: (stats: Subscription<M>["stats"]) => boolean): Promise<string[]> {
  const handled: string[] = [];
  const handler = (async () => {
    for await (const d of sub) {
      handled.push(d.message.id);
      await d.ack();
    }
  })();
  const deadline = Date.now() + 10_000;
  while (!done(sub.stats) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  await sub.stop();
  await handler;
  return handled;
}
