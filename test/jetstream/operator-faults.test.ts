// What a running subscription meets when an operator or its own handler gets in the way,
// against a real nats-server: the stream's old messages removed (by its limits: purge is denied
// for good), the dead-letter stream missing when a letter must be written, and a handler that
// throws. Each time nothing is lost in silence and the subscription goes on (or, for the throw,
// the message comes back to the next one).
import { connect as natsConnect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { ErrorCode } from "../../runtime/errors.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { listDeadLetters } from "../../runtime/jetstream/dead-letter.js";
import { applyStreams, planStreams } from "../../runtime/jetstream/streams.js";
import type { Subscription } from "../../runtime/control-plane.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { applyBundledStreams, client, makeKeys, stateUpdate } from "./fixtures.js";

const keys = makeKeys();
let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
let publisher: OnexClient;
let receiver: OnexClient;
let stranger: OnexClient;

beforeAll(async () => {
  server = await startNatsServer();
  await applyBundledStreams(server.url);
  nc = await natsConnect({ servers: server.url });
  jsm = await jetstreamManager(nc);
  publisher = await client(server.url, keys.node, [keys.node]);
  receiver = await client(server.url, keys.agent, [keys.node]);
  stranger = await client(server.url, keys.stranger, [keys.stranger]);
});

afterAll(async () => {
  await Promise.all([publisher?.close(), receiver?.close(), stranger?.close()]);
  await nc?.close();
  await server?.stop();
});

/** Handles a subscription in the background, acknowledging everything; `until` waits for an id, `end` stops it and says how the iteration ended. */
function handle<M extends { id: string }>(sub: Subscription<M>) {
  const handled: string[] = [];
  const waiters: (() => void)[] = [];
  const ended = (async () => {
    for await (const d of sub) {
      handled.push(d.message.id);
      await d.ack();
      for (const wake of waiters.splice(0)) wake();
    }
  })().then(
    () => "ended",
    (error: { code?: string }) => `failed ${error.code}`,
  );
  return {
    handled,
    async until(id: string) {
      while (!handled.includes(id)) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    async end() {
      await sub.stop();
      return ended;
    },
  };
}

describe("an operator emptying a stream under a running subscription", () => {
  it("cannot purge it (onex streams deny purge, and nats-server never lifts that); trimmed by its limits instead, the subscription goes on and delivers what comes after", async () => {
    const sub = handle(await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-trim", durable: "trim" }));
    const first = stateUpdate("n-trim");
    await publisher.publish(first);
    await sub.until(first.id);
    const { config } = await jsm.streams.info("ONEX_EVENT");
    await expect(jsm.streams.update("ONEX_EVENT", { ...config, deny_purge: false })).rejects.toThrow(/can not cancel deny purge/);
    await expect(jsm.streams.purge("ONEX_EVENT")).rejects.toThrow(/purge not permitted/i);
    // What an operator can do: lower the limits for a moment (onex streams apply --max-msgs 1), then apply them again.
    await applyStreams(jsm, planStreams([v0_1, v0_2], { maxMessages: 1 }));
    expect((await jsm.streams.info("ONEX_EVENT")).state.messages).toBe(1);
    await applyStreams(jsm, planStreams([v0_1, v0_2]));
    const after = stateUpdate("n-trim");
    await publisher.publish(after);
    await sub.until(after.id);
    expect([await sub.end(), sub.handled]).toEqual(["ended", [first.id, after.id]]);
  });
});

describe("the dead-letter stream missing when a letter must be written", () => {
  it("the refused message is handed back, not dropped; the messages behind it are delivered meanwhile; once the stream is applied again its letter is written, once", async () => {
    await jsm.streams.delete("ONEX_DLQ");
    const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-no-dlq", durable: "no-dlq", ackWaitMs: 1_000 });
    const handler = handle(sub);
    const forged = stateUpdate("n-no-dlq");
    await stranger.publish(forged);
    const genuine = stateUpdate("n-no-dlq");
    await publisher.publish(genuine);
    await handler.until(genuine.id);
    expect(sub.stats.deadLettered).toBe(0);
    await applyStreams(jsm, planStreams([v0_1, v0_2]));
    // The refused message comes back after its hand-back delay and is judged again.
    while (sub.stats.deadLettered === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await handler.end()).toBe("ended");
    const letters = (await listDeadLetters(jsm)).filter((l) => l.consumer === "no-dlq");
    expect(letters.map((l) => [l.reason, JSON.parse(new TextDecoder().decode(l.data)).id])).toEqual([[ErrorCode.SignerUnknown, forged.id]]);
    expect(handler.handled).toEqual([genuine.id]);
  });
});

describe("a handler that throws", () => {
  it("ends the iteration with its own error; the message comes back to the next subscription of the durable, its attempt counted", async () => {
    const message = stateUpdate("n-throws");
    await publisher.publish(message);
    const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-throws", durable: "throws", ackWaitMs: 500 });
    const thrown = await (async () => {
      for await (const d of sub) throw new Error(`handler failed on ${d.message.id}`);
    })().catch((error: Error) => error.message);
    expect(thrown).toBe(`handler failed on ${message.id}`);
    const again = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-throws", durable: "throws", ackWaitMs: 500 });
    for await (const d of again) {
      expect([d.message.id, d.deliveries]).toEqual([message.id, 2]);
      await d.ack();
      break;
    }
    await again.stop();
  });
});
