// A nats-server killed with SIGKILL mid-stream and restarted on the same store: every
// acknowledged publish is delivered, and each message is handled exactly once by id. One that
// stays dead leaves no subscription's stop() (nor its client's close()) waiting for it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { applyBundledStreams, client, makeKeys, stateUpdate } from "./fixtures.js";

const keys = makeKeys();
let server: NatsServer;
let publisher: OnexClient;
let receiver: OnexClient;

beforeAll(async () => {
  server = await startNatsServer();
  await applyBundledStreams(server.url);
  publisher = await client(server.url, keys.node, [keys.node]);
  receiver = await client(server.url, keys.agent, [keys.node]);
});

afterAll(async () => {
  await publisher?.close();
  await receiver?.close();
  await server?.stop();
});

describe("server crash and restart", () => {
  it("loses no acknowledged message and handles none twice", async () => {
    const total = 600;
    const acknowledged = new Set<string>();
    const handled = new Map<string, number>();
    const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-crash", durable: "crash-test", maxInFlight: 32, ackWaitMs: 2_000 });
    const consuming = (async () => {
      for await (const d of sub) {
        handled.set(d.message.id, (handled.get(d.message.id) ?? 0) + 1);
        await d.ack();
      }
    })();

    const publishing = (async () => {
      for (let i = 0; i < total; i++) {
        const msg = stateUpdate("n-crash");
        await publisher.publish(msg, { retryForMs: 30_000, timeoutMs: 1_000 });
        acknowledged.add(msg.id);
      }
    })();

    // Kill the server once a third is through, keep it down briefly, restart it on the same store.
    while (acknowledged.size < total / 3) await new Promise((r) => setTimeout(r, 10));
    await server.kill();
    await new Promise((r) => setTimeout(r, 500));
    await server.restart();

    await publishing;
    // Every acknowledged message handled; then a little longer, for any second delivery to show.
    while (![...acknowledged].every((id) => handled.has(id))) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 3_000));
    await sub.stop();
    await consuming;
    expect(acknowledged.size).toBe(total);
    for (const id of acknowledged) expect(handled.get(id), id).toBe(1);
  }, 120_000);
});

describe("a server that dies and stays away", () => {
  it.each([0, 1])("stop() ends a subscription (and close() its client) while the connection waits to reconnect (%i verification threads)", async (verifyThreads) => {
    const lone = await startNatsServer();
    await applyBundledStreams(lone.url);
    const c = await client(lone.url, keys.agent, [keys.node], { verifyThreads });
    const sub = await c.subscribe([v0_1.StateUpdate], { entityId: "n-gone" });
    const consuming = (async () => {
      for await (const d of sub) await d.ack();
    })();
    // The subscription is pulling when the server goes.
    await new Promise((r) => setTimeout(r, 300));
    await lone.kill();
    await sub.stop();
    await consuming;
    await c.close();
    await lone.stop();
  }, 30_000);
});
