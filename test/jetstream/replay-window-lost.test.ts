/**
 * A captured message published again when the stream no longer holds its original: pushed out by
 * the stream's limits before a receiver restarts, or gone with a stream made again while the
 * receiver ran. Each copy is the only one stored, so the replay window read as a subscription
 * opens cannot name it a copy.
 */
import { headers as natsHeaders, connect as natsConnect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { ErrorCode } from "../../runtime/errors.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { listDeadLetters } from "../../runtime/jetstream/dead-letter.js";
import { applyStreams, planStreams } from "../../runtime/jetstream/streams.js";
import { signMessage } from "../../runtime/trust/sign-message.js";
import { ReplayGuard } from "../../runtime/trust/replay-guard.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { ZONE, client, handleUntil, makeKeys, stateUpdate } from "./fixtures.js";

const LIMIT = 50;
let server: NatsServer;
let raw: NatsConnection;
const keys = makeKeys();

beforeAll(async () => {
  server = await startNatsServer();
  raw = await natsConnect({ servers: server.url });
});

afterAll(async () => {
  await raw?.close();
  await server?.stop();
});

/** Streams of at most LIMIT messages each, the oldest removed first, made anew. */
async function boundedStreams(): Promise<void> {
  const jsm = await jetstreamManager(raw);
  for await (const name of jsm.streams.names()) await jsm.streams.delete(name);
  await applyStreams(jsm, planStreams([v0_1], { maxMessages: LIMIT, discard: "old" }));
}

/** A member's publish of `bytes` on `subject`, around the SDK: no de-duplication id. */
async function publishRaw(subject: string, bytes: Uint8Array) {
  const h = natsHeaders();
  h.set("Onex-Type", "signal.state.update");
  return jetstream(raw).publish(subject, bytes, { headers: h });
}

// A clock skew of 200 ms: a copy is refused when stored more than that after its making.
const guarded = (warnings: string[] = []) =>
  client(server.url, keys.agent, [keys.node], { trust: { zone: ZONE, replay: new ReplayGuard({ skewMs: 200 }), keyOfEntity: () => keys.node.keyId, logger: { warn: (text: string) => void warnings.push(text) } } });

/** Subscribes `c` to `entityId` on durable `durable` until `expected` is reached (or 10 s pass); returns what was handled and counted. */
async function handle(c: OnexClient, entityId: string, durable: string, expected: { delivered: number; deadLettered: number }) {
  const sub = await c.subscribe([v0_1.StateUpdate], { entityId, durable });
  const handled = await handleUntil(sub, (stats) => stats.delivered >= expected.delivered && stats.deadLettered >= expected.deadLettered);
  return { handled, delivered: sub.stats.delivered, deadLettered: sub.stats.deadLettered };
}

describe("a captured message whose original the stream no longer holds", () => {
  it("is refused after a restart when the stream's limits pushed the original out, and a message created since still passes", async () => {
    await boundedStreams();
    const original = signMessage(stateUpdate("n-victim", "offline").toJSON(), keys.node);
    const subject = stateUpdate("n-victim").subject();
    const bytes = new TextEncoder().encode(JSON.stringify(original));
    await publishRaw(subject, bytes);
    const first = await guarded();
    expect((await handle(first, "n-victim", "svc", { delivered: 1, deadLettered: 0 })).handled).toEqual([original.id]);
    await first.close();

    // While the service is down, a member pushes the original out with the stream's size in junk, then publishes it again.
    for (let i = 0; i < LIMIT; i++) await publishRaw(stateUpdate("n-junk").subject(), new TextEncoder().encode("{}"));
    expect((await (await jetstreamManager(raw)).streams.info("ONEX_EVENT")).state.first_seq).toBeGreaterThan(1);
    await new Promise((r) => setTimeout(r, 300));
    await publishRaw(subject, bytes);
    // And the node publishes a new message, created after the stream removed anything.
    const fresh = signMessage(stateUpdate("n-victim", "idle").toJSON(), keys.node);
    await publishRaw(subject, new TextEncoder().encode(JSON.stringify(fresh)));

    const warnings: string[] = [];
    const restarted = await guarded(warnings);
    const after = await handle(restarted, "n-victim", "svc", { delivered: 1, deadLettered: 1 });
    await restarted.close();
    expect(warnings.some((w) => w.includes("ONEX_EVENT may no longer hold the whole replay window"))).toBe(true);
    const letters = (await listDeadLetters(await jetstreamManager(raw))).filter((l) => l.consumer === "svc");
    expect(after).toMatchObject({ delivered: 1, deadLettered: 1 });
    expect(letters.map((l) => [l.reason, JSON.parse(new TextDecoder().decode(l.data)).id])).toEqual([[ErrorCode.Replay, original.id]]);
    expect(after.handled).toEqual([fresh.id]);
  });

  it("a receiver behind a stream whose limits removed messages handles every message the stream holds, its oldest included", async () => {
    await boundedStreams();
    const subject = stateUpdate("n-backlog").subject();
    const sent: string[] = [];
    for (let i = 0; i < LIMIT + 10; i++) {
      const message = signMessage(stateUpdate("n-backlog", "busy").toJSON(), keys.node);
      sent.push(message.id);
      await publishRaw(subject, new TextEncoder().encode(JSON.stringify(message)));
    }
    const warnings: string[] = [];
    const receiver = await guarded(warnings);
    const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-backlog", durable: "backlog", deliver: "all" });
    const handled: string[] = [];
    for await (const d of sub) {
      handled.push(d.message.id);
      await d.ack();
      if (handled.length === LIMIT) break;
    }
    await receiver.close();
    expect(warnings.some((w) => w.includes("may no longer hold the whole replay window"))).toBe(true);
    expect(handled).toEqual(sent.slice(10));
    expect(sub.stats.deadLettered).toBe(0);
  });

  it("is refused by a receiver that ran on while the stream was made again, the copy stored at the sequence the original held", async () => {
    await boundedStreams();
    const original = signMessage(stateUpdate("n-remade", "offline").toJSON(), keys.node);
    const subject = stateUpdate("n-remade").subject();
    const bytes = new TextEncoder().encode(JSON.stringify(original));
    const stored = await publishRaw(subject, bytes);
    const service = await guarded();
    expect((await handle(service, "n-remade", "remade", { delivered: 1, deadLettered: 0 })).handled).toEqual([original.id]);

    // The operator deletes the stream and applies it again; a member publishes the captured bytes first, at the same sequence.
    await boundedStreams();
    const copy = await publishRaw(subject, bytes);
    expect(copy.seq).toBe(stored.seq);
    const again = await handle(service, "n-remade", "remade", { delivered: 0, deadLettered: 1 });
    await service.close();
    expect(again).toEqual({ handled: [], delivered: 0, deadLettered: 1 });
    const letters = (await listDeadLetters(await jetstreamManager(raw))).filter((l) => l.consumer === "remade");
    expect(letters.map((l) => l.reason)).toEqual([ErrorCode.Replay]);
  });
});
