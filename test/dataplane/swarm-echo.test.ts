/**
 * A fetch by name decides once its own request has come back through the stream. On a control
 * plane that delivers a message back before acknowledging its publish (which a busy client
 * can see), the swarm must still notice the echo, not wait for the deadline. The control plane
 * here is in memory: every publish is delivered to every subscription, then acknowledged.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_2 from "../../generated/v0.2/index.js";
import type { ControlPlane, Delivery, PublishReceipt, Subscription } from "../../runtime/control-plane.js";
import { Bitfield } from "../../runtime/dataplane/bitfield.js";
import { describeFile } from "../../runtime/dataplane/descriptor.js";
import { publishersOf } from "../../runtime/dataplane/publishers.js";
import { Swarm } from "../../runtime/dataplane/swarm.js";
import type { PublishableMessage } from "../../runtime/protocol-sdk.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { tempDir, ZONE } from "./fixtures.js";

/** Delivers each published message to every subscription at once, and acknowledges the publish `ackAfterMs` later. */
function echoFirstPlane(ackAfterMs: number): ControlPlane {
  const subscribers = new Set<{ queue: Delivery<PublishableMessage>[]; wake?: () => void }>();
  return {
    async publish(message) {
      for (const s of subscribers) {
        s.queue.push({ message, warnings: [], subject: "", sequence: 0, deliveries: 1, ack: async () => {}, nak: async () => {}, term: async () => {} } as unknown as Delivery<PublishableMessage>);
        s.wake?.();
      }
      await new Promise((resolve) => setTimeout(resolve, ackAfterMs));
      return { stream: "memory", sequence: 0, duplicate: false, subject: "" } as PublishReceipt;
    },
    async subscribe() {
      const subscriber: { queue: Delivery<PublishableMessage>[]; wake?: () => void } = { queue: [] };
      subscribers.add(subscriber);
      let stopped = false;
      const subscription = {
        stream: "memory",
        consumer: "memory",
        stats: { delivered: 0, deadLettered: 0, skipped: 0, duplicates: 0 },
        async stop() {
          stopped = true;
          subscribers.delete(subscriber);
          subscriber.wake?.();
        },
        async *[Symbol.asyncIterator]() {
          while (!stopped) {
            const next = subscriber.queue.shift();
            if (next) yield next;
            else await new Promise<void>((resolve) => (subscriber.wake = resolve));
          }
        },
      };
      return subscription as unknown as Subscription<never>;
    },
    subscribeVersioned() {
      throw new Error("not used by the swarm");
    },
  };
}

let work: { dir: string; remove(): Promise<void> };
beforeAll(async () => {
  work = await tempDir();
});
afterAll(async () => {
  await work?.remove();
});

describe("a request delivered back before its publish is acknowledged", () => {
  it("still ends the wait for earlier announcements: the descriptor is decided at once, not at the deadline", async () => {
    const plane = echoFirstPlane(100);
    const publisher = generateKeyPair();
    const fetcher = generateKeyPair();
    const publishers = publishersOf([publisher.publicKey]);
    const joinAs = (key: typeof publisher, peerId: string) => Swarm.join({ client: plane, messages: v0_2, peerId, zone: ZONE, endpoint: `http://127.0.0.1:9/${peerId}`, signer: key.keyId, publishers, logger: { warn() {} } });
    const seeder = await joinAs(publisher, "seeder");
    const swarm = await joinAs(fetcher, "fetcher");
    try {
      const file = join(work.dir, "small.bin");
      await writeFile(file, "some bytes");
      const descriptor = await describeFile(file, { name: "models/echo", version: "1", zone: ZONE, pieceSize: 1 << 14 }, publisher);
      await seeder.announce(descriptor, new Bitfield(1));
      const started = Date.now();
      const decided = await swarm.descriptorOf("models/echo", "1", 5_000);
      expect(decided.root_hash).toBe(descriptor.root_hash);
      // The deadline is 5 s: deciding well before it means the echo was seen.
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await swarm.stop();
      await seeder.stop();
    }
  }, 20_000);
});
