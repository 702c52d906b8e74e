/**
 * The federation test of issue 7: three deployments at v0.0.9, v0.1 and v0.2 on one real
 * nats-server negotiate pairwise, each publishes every message type it knows, and every
 * receiver gets every message it can represent — in its own version, converted by the
 * generated adapters after the signature was verified on the original — with a refusal
 * recorded (and its code) for each it cannot.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { versionGraph } from "../../generated/transforms/index.js";
import { ErrorCode, isOnexError } from "../../runtime/errors.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { listDeadLetters } from "../../runtime/jetstream/dead-letter.js";
import { OnexHeader } from "../../runtime/jetstream/headers.js";
import { declaredVersionOf } from "../../runtime/receive/pipeline.js";
import type { FederationNode, FederatedReceipt } from "../../runtime/negotiation/federation-node.js";
import { generateKeyPair, type KeyPair } from "../../runtime/trust/keys.js";
import { signMessage } from "../../runtime/trust/sign-message.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { SDKS, sampleMessage, typesOf } from "./samples.js";
import { applyAllStreams, bundledIndexes, federationClient, receiveAll, startNode, type Received } from "./support.js";

const VERSIONS = ["0.0.9", "0.1", "0.2"] as const;
const deploymentOf = (v: string) => `deployment-v${v}`;

let server: NatsServer;
const keys = new Map<string, KeyPair>(VERSIONS.map((v) => [v, generateKeyPair()]));
const clients = new Map<string, OnexClient>();
const nodes = new Map<string, FederationNode>();
const published = new Map<string, { id: string; type: string; receipt: FederatedReceipt }[]>();
const received = new Map<string, Received>();

/** Whether a `type` message of `from` has a counterpart all the way to `to`. */
function representable(type: string, from: string, to: string): boolean {
  return typesOf(from).includes(type) && typesOf(to).includes(type);
}

beforeAll(async () => {
  server = await startNatsServer();
  await applyAllStreams(server.url);
  const indexes = await bundledIndexes();
  for (const v of VERSIONS) {
    const client = await federationClient(server.url, keys.get(v)!, [...keys.values()]);
    clients.set(v, client);
    nodes.set(v, await startNode(client, deploymentOf(v), v, indexes, keys.get(v)!, [...keys.values()]));
  }
});

afterAll(async () => {
  for (const node of nodes.values()) await node.stop();
  for (const client of clients.values()) await client.close();
  await server?.stop();
});

describe("three deployments at v0.0.9, v0.1 and v0.2", () => {
  it("negotiate pairwise: direct where they share a version, fallback through the adapters where they do not", async () => {
    for (const a of VERSIONS) {
      for (const b of VERSIONS) if (a < b) await nodes.get(a)!.negotiate(deploymentOf(b));
    }
    const outcome = (a: string, b: string) => {
      const agreement = nodes.get(a)!.agreements.get(deploymentOf(b));
      return agreement && `${agreement.mode} v${agreement.version}`;
    };
    // Both sides hold the same agreement: the initiator's, and the responder's from serving.
    for (const [a, b] of [["0.0.9", "0.1"], ["0.1", "0.0.9"]]) expect(outcome(a!, b!)).toBe("direct v0.0.9");
    for (const [a, b] of [["0.1", "0.2"], ["0.2", "0.1"]]) expect(outcome(a!, b!)).toBe("direct v0.1");
    for (const [a, b] of [["0.0.9", "0.2"], ["0.2", "0.0.9"]]) expect(outcome(a!, b!)).toBe("fallback v0.0.9");
    const fallback = nodes.get("0.2")!.agreements.get(deploymentOf("0.0.9"))!;
    expect(fallback.convertedBy).toEqual([deploymentOf("0.0.9"), deploymentOf("0.2")]);
    expect(fallback.flags).toEqual([]);
  });

  it("each publishes every message type it knows; the sender records which peers cannot represent it", async () => {
    for (const v of VERSIONS) {
      const list: { id: string; type: string; receipt: FederatedReceipt }[] = [];
      for (const type of typesOf(v)) {
        const message = sampleMessage(v, type, `node-${v}`);
        list.push({ id: message.id, type, receipt: await nodes.get(v)!.publish(message) });
      }
      published.set(v, list);
    }
    for (const v of VERSIONS) {
      for (const { type, receipt } of published.get(v)!) {
        const expected = VERSIONS.filter((peer) => peer !== v && !representable(type, v, peer)).map((peer) => ({ peer: deploymentOf(peer), code: ErrorCode.NoCounterpart }));
        expect(receipt.refusedBy.map(({ peer, code }) => ({ peer, code })).sort((x, y) => x.peer.localeCompare(y.peer)), `${v} ${type}`).toEqual(expected);
      }
    }
    // v0.2's own types exist in no older version: at least event.agent.stopped is refused by both older peers.
    const stopped = published.get("0.2")!.find((p) => p.type === "event.agent.stopped")!;
    expect(stopped.receipt.refusedBy.map((r) => r.peer).sort()).toEqual([deploymentOf("0.0.9"), deploymentOf("0.1")]);
  });

  it("refuses at the sender a v0.2-only type sent to the v0.1 peer, and publishes nothing", async () => {
    const before = (await (await clients.get("0.2")!.manager()).streams.info("ONEX_EVENT")).state.messages;
    const error = await nodes
      .get("0.2")!
      .publish(sampleMessage("0.2", "event.agent.stopped", "node-0.2"), { to: deploymentOf("0.1") })
      .catch((e: unknown) => e);
    expect(isOnexError(error, ErrorCode.NoCounterpart)).toBe(true);
    expect((error as Error).message).toContain(`not sent to "${deploymentOf("0.1")}"`);
    const after = (await (await clients.get("0.2")!.manager()).streams.info("ONEX_EVENT")).state.messages;
    expect(after).toBe(before);
    // A type the peer can represent goes through to it.
    const ok = await nodes.get("0.2")!.publish(sampleMessage("0.2", "signal.state.update", "node-0.2-direct"), { to: deploymentOf("0.1") });
    expect(ok.refusedBy).toEqual([]);
    published.get("0.2")!.push({ id: "direct", type: "signal.state.update", receipt: ok });
  });

  it("every receiver gets every message it can represent, in its own version, and a refusal for each it cannot", async () => {
    const total = [...published.values()].reduce((n, list) => n + list.length, 0);
    await Promise.all(VERSIONS.map(async (v) => received.set(v, await receiveAll(nodes.get(v)!, total))));

    for (const receiver of VERSIONS) {
      const { deliveries, refusals } = received.get(receiver)!;
      let expectedDelivered = 0;
      for (const sender of VERSIONS) {
        for (const { type, receipt } of published.get(sender)!) {
          if (representable(type, sender, receiver)) expectedDelivered++;
          else {
            const refusal = refusals.find((r) => r.sequence === receipt.sequence);
            expect(refusal, `v${receiver} refusal of v${sender} ${type}`).toMatchObject({
              code: ErrorCode.NoCounterpart,
              type,
              fromVersion: sender,
              toVersion: receiver,
              // Judged before it was refused: the signature verified on the original.
              signer: keys.get(sender)!.keyId,
            });
          }
        }
      }
      expect(deliveries.length, `v${receiver} deliveries`).toBe(expectedDelivered);
      expect(deliveries.length + refusals.length, `v${receiver} total`).toBe(total);

      for (const d of deliveries) {
        const type = String((d.message as { type: string }).type);
        // In the receiver's own version, as its own class.
        expect(d.message).toBeInstanceOf(SDKS[receiver]!.messageClasses[type] as unknown as abstract new (...args: never[]) => unknown);
        expect(declaredVersionOf(d.message)).toBe(receiver);
        // Verified on the original, which came in the sender's version.
        const signedBy = VERSIONS.find((v) => keys.get(v)!.keyId === d.signer)!;
        expect(signedBy, "signer is one of the three nodes").toBeDefined();
        // A message sent to a peer travels in the version agreed with it (v0.2 to v0.1: direct v0.1).
        const sender = d.sequence === directSequence() ? "0.1" : signedBy;
        expect(d.receivedVersion).toBe(sender);
        expect(declaredVersionOf(d.original)).toBe(sender);
        expect(d.path).toEqual(sender === receiver ? [receiver] : [sender, ...pathBetween(sender, receiver).slice(1)]);
        expect((d.message as { id: string }).id).toBe(d.original.id);
      }
      const stats = { deliveries: deliveries.length, refusals: refusals.length };
      expect(stats.refusals).toBe(total - expectedDelivered);
    }
    // The v0.2 node reads everything; the older ones refuse exactly v0.2's new types.
    expect(received.get("0.2")!.refusals).toEqual([]);
    const newTypes = typesOf("0.2").filter((t) => !typesOf("0.1").includes(t));
    expect(received.get("0.1")!.refusals.map((r) => r.type).sort()).toEqual(newTypes);
    expect(received.get("0.0.9")!.refusals.map((r) => r.type).sort()).toEqual(newTypes);
  });

  it("converts field by field: a v0.2 task dispatch reaches v0.1 and v0.0.9 in their shapes", () => {
    const pick = (receiver: string) =>
      received.get(receiver)!.deliveries.find((d) => d.receivedVersion === "0.2" && (d.message as { type: string }).type === "signal.task.dispatch")!.message as { payload: Record<string, unknown> };
    expect(pick("0.2").payload).toMatchObject({ targets: ["n-1"], operation: "train" });
    expect(pick("0.1").payload).toMatchObject({ target: "n-1", action: "train" });
    expect(pick("0.1").payload).not.toHaveProperty("operation");
    expect(pick("0.0.9").payload).not.toHaveProperty("operation");
  });

  it("verifies the signature on the original bytes: a v0.1 message altered after signing is dead-lettered, never converted", async () => {
    const original = sampleMessage("0.1", "signal.state.update", "node-tampered");
    const signed = signMessage(original.toJSON(), keys.get("0.1")!) as Record<string, unknown>;
    const tampered = { ...signed, payload: { state: "offline" } };
    const h = natsHeaders();
    h.set(OnexHeader.Type, "signal.state.update");
    h.set(OnexHeader.Version, "0.1");
    const ack = await jetstream(clients.get("0.1")!.nc).publish(original.subject(), JSON.stringify(tampered), { headers: h, msgID: original.id });
    const got = await receiveAll(nodes.get("0.2")!, 1, 3_000, { fromSequence: ack.seq });
    expect(got.deliveries).toEqual([]);
    expect(got.refusals).toEqual([]);
    const dead = await listDeadLetters(await clients.get("0.2")!.manager());
    expect(dead.some((d) => d.originalSequence === ack.seq && d.reason === ErrorCode.SignatureInvalid)).toBe(true);
  });
});

function directSequence(): number {
  return published.get("0.2")!.find((p) => p.id === "direct")!.receipt.sequence;
}

function pathBetween(from: string, to: string): string[] {
  const all = versionGraph.versions as readonly string[];
  const a = all.indexOf(from);
  const b = all.indexOf(to);
  return a <= b ? all.slice(a, b + 1) : all.slice(b, a + 1).reverse();
}
