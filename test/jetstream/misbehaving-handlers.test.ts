// Handlers are the service developer's code, and they misbehave: they outrun ackWaitMs, fail
// only when a message comes again, settle one delivery of a message while another is handed
// out. A stored message settled for good (acknowledged, terminated, dead-lettered) by one of
// its deliveries is never handed out again, nor dead-lettered by another.
import { headers as natsHeaders, connect as natsConnect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { versionGraph } from "../../generated/transforms/index.js";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import { signMessage } from "../../runtime/trust/sign-message.js";
import type { Delivery, Subscription } from "../../runtime/control-plane.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { listDeadLetters } from "../../runtime/jetstream/dead-letter.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { applyBundledStreams, client, makeKeys, stateUpdate } from "./fixtures.js";

let server: NatsServer;
let raw: NatsConnection;
const keys = makeKeys();
let publisher: OnexClient;
let receiver: OnexClient;

beforeAll(async () => {
  server = await startNatsServer();
  await applyBundledStreams(server.url);
  raw = await natsConnect({ servers: server.url });
  publisher = await client(server.url, keys.node, [keys.node]);
  // With a verification thread the subscription pulls ahead of the handler: the server's
  // redeliveries of a message the handler still holds reach this process meanwhile.
  receiver = await client(server.url, keys.agent, [keys.node], { verifyThreads: 1 });
});

afterAll(async () => {
  await publisher?.close();
  await receiver?.close();
  await raw?.close();
  await server?.stop();
});

/** Waits (10 s at most) until the server has sent `count` deliveries on the subscription's consumer, redeliveries included. */
async function serverDelivered(sub: Subscription<unknown>, count: number): Promise<void> {
  const jsm = await jetstreamManager(raw);
  const deadline = Date.now() + 10_000;
  while ((await jsm.consumers.info(sub.stream, sub.consumer)).delivered.consumer_seq < count) {
    if (Date.now() > deadline) throw new Error(`the server sent fewer than ${count} deliveries in 10 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Hands out deliveries of `entityId` to `handle` until one of state `until` comes; returns the states handed out, with their delivery counts. */
async function handleUntil(sub: Subscription<v0_1.StateUpdate>, until: string, handle: (d: Delivery<v0_1.StateUpdate>) => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  for await (const d of sub) {
    seen.push(`${d.message.payload.state}/${d.deliveries}`);
    if (d.message.payload.state === until) {
      await d.ack();
      break;
    }
    await handle(d);
  }
  await sub.stop();
  return seen;
}

describe("a handler that outruns ackWaitMs", () => {
  it("terminates a message, and the copy the server redelivered meanwhile is not handed out (term() is never deliver again)", async () => {
    await publisher.publish(stateUpdate("n-term-copy", "busy"));
    const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-term-copy", durable: "term-copy", ackWaitMs: 300 });
    const seen = await handleUntil(sub, "idle", async (d) => {
      // The handler runs past ackWaitMs: the server delivers the message again, to the pull
      // already waiting ahead, before the handler terminates it.
      await serverDelivered(sub, 2);
      d.term();
      await publisher.publish(stateUpdate("n-term-copy", "idle"));
    });
    expect(seen).toEqual(["busy/1", "idle/1"]);
  });

  it("fails its last attempt, and the copy the server redelivered meanwhile is neither handed out nor dead-lettered again", async () => {
    await publisher.publish(stateUpdate("n-last-copy", "busy"));
    const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-last-copy", durable: "last-copy", ackWaitMs: 300, maxDeliver: 1 });
    const seen = await handleUntil(sub, "idle", async (d) => {
      await serverDelivered(sub, 2);
      await d.nak();
      await publisher.publish(stateUpdate("n-last-copy", "idle"));
    });
    expect(seen).toEqual(["busy/1", "idle/1"]);
    expect(sub.stats.deadLettered).toBe(1);
    const letters = (await listDeadLetters(await jetstreamManager(raw))).filter((l) => l.consumer === "last-copy");
    expect(letters.map((l) => [l.reason, l.deliveries])).toEqual([["ONEX_E_HANDLER_FAILED", 1]]);
  });

  it("a run that fails after another run of the same message acknowledged it dead-letters nothing: the message was handled", async () => {
    await publisher.publish(stateUpdate("n-overlap", "busy"));
    const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-overlap", durable: "overlap", ackWaitMs: 300, maxDeliver: 2 });
    // Handlers run side by side: the loop takes the next delivery while the first still runs,
    // and the server, its ackWaitMs passed, hands the same message out again (the last attempt).
    const runs: Delivery<v0_1.StateUpdate>[] = [];
    for await (const d of sub) {
      runs.push(d);
      if (runs.length < 2) continue;
      await runs[0]!.ack(); // the first run succeeds, late
      await runs[1]!.nak(); // the second fails: "already handled", say
      break;
    }
    await sub.stop();
    expect(runs.map((d) => [d.sequence, d.deliveries])).toEqual([
      [runs[0]!.sequence, 1],
      [runs[0]!.sequence, 2],
    ]);
    expect(sub.stats.deadLettered).toBe(0);
    expect((await listDeadLetters(await jetstreamManager(raw))).filter((l) => l.consumer === "overlap")).toEqual([]);
  });
});

describe("an onRefusal callback that fails", () => {
  /** Stores a signed state update of `entityId` that declares version 9.9, which no receiver reads: it is refused. */
  async function publishRefused(entityId: string): Promise<number> {
    const update = stateUpdate(entityId);
    const data = update.toJSON() as { protocol: { version: string } } & Record<string, unknown>;
    data.protocol = { ...data.protocol, version: "9.9" };
    const h = natsHeaders();
    h.set("Onex-Type", update.type);
    h.set("Onex-Version", "9.9");
    return (await jetstream(raw).publish(update.subject(), JSON.stringify(signMessage(data, keys.node)), { headers: h, msgID: String(data.id) })).seq;
  }

  for (const [how, onRefusal] of [
    ["throws", () => { throw "not an Error"; }],
    ["rejects", async () => Promise.reject(undefined)],
  ] as const) {
    it(`${how}: the iteration ends with ONEX_E_HANDLER_FAILED, nothing is left unhandled, and the refused message is acknowledged, not refused again on every resume`, async () => {
      const entityId = `n-refusal-${how}`;
      const sequence = await publishRefused(entityId);
      const options = { entityId, durable: `refusal-${how}` };
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on("unhandledRejection", onUnhandled);
      try {
        const sub = await receiver.subscribeVersioned({ sdk: v0_1, sources: [v0_1], graph: versionGraph }, { ...options, onRefusal });
        const ended = await (async () => {
          for await (const d of sub) await d.ack();
        })().catch((error: unknown) => error as OnexError);
        await sub.stop();
        expect(ended).toMatchObject({ code: ErrorCode.HandlerFailed, details: { sequence } });
        expect(sub.refusals.map((r) => r.sequence)).toEqual([sequence]);
        // Resumed, the subscription is past it: a message stored after it comes first.
        await publisher.publish(stateUpdate(entityId, "idle"));
        const again = await receiver.subscribeVersioned({ sdk: v0_1, sources: [v0_1], graph: versionGraph }, { ...options, onRefusal: () => undefined });
        for await (const d of again) {
          await d.ack();
          break;
        }
        await again.stop();
        expect(again.stats.refused).toBe(0);
        expect(unhandled).toEqual([]);
      } finally {
        process.off("unhandledRejection", onUnhandled);
      }
    });
  }
});
