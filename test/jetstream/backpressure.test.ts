// A slow handler with 100,000 messages waiting: the client holds at most `maxInFlight` of
// them, so its memory stays flat while the backlog stays on the server.
import { headers as natsHeaders, connect as natsConnect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { signMessage } from "../../runtime/trust/sign-message.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { applyBundledStreams, client, makeKeys, stateUpdate } from "./fixtures.js";

const BACKLOG = 100_000;
const keys = makeKeys();
let server: NatsServer;
let receiver: OnexClient;

beforeAll(async () => {
  server = await startNatsServer();
  await applyBundledStreams(server.url);
  // The backlog is published raw (one signed message, distinct de-duplication ids): this
  // test is about the consumer, and raw publishing keeps its set-up short.
  const nc = await natsConnect({ servers: server.url });
  const js = jetstream(nc);
  const msg = stateUpdate("n-backlog");
  const bytes = new TextEncoder().encode(JSON.stringify(signMessage(msg.toJSON(), keys.node)));
  const h = natsHeaders();
  h.set("Onex-Type", "signal.state.update");
  for (let start = 0; start < BACKLOG; start += 1_000) {
    await Promise.all(Array.from({ length: 1_000 }, (_, i) => js.publish(msg.subject(), bytes, { msgID: `backlog-${start + i}`, headers: h })));
  }
  await nc.close();
  receiver = await client(server.url, keys.agent, [keys.node]);
}, 120_000);

afterAll(async () => {
  await receiver?.close();
  await server?.stop();
});

describe("backpressure", () => {
  it("a slow handler never holds more than maxInFlight messages, and memory stays flat", async () => {
    const maxInFlight = 64;
    const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-backlog", durable: "slow", maxInFlight });
    const jsm = await receiver.manager();
    const rss: number[] = [];
    let handled = 0;
    for await (const d of sub) {
      await new Promise((r) => setTimeout(r, 1)); // the slow handler
      await d.ack();
      handled++;
      if (handled % 100 === 0) {
        rss.push(process.memoryUsage().rss);
        const info = await jsm.consumers.info(sub.stream, sub.consumer);
        expect(info.num_ack_pending).toBeLessThanOrEqual(maxInFlight);
        expect(info.num_pending + info.num_ack_pending).toBeGreaterThan(BACKLOG - handled - maxInFlight - 1);
      }
      if (handled === 2_000) break;
    }
    await sub.stop();
    // The backlog (about 80 MB of messages) waits on the server, not in this process.
    const growth = Math.max(...rss) - rss[0]!;
    expect(growth).toBeLessThan(40 * 1024 * 1024);
    const info = await jsm.consumers.info(sub.stream, sub.consumer);
    expect(info.num_pending + info.num_ack_pending).toBe(BACKLOG - handled);
  }, 120_000);
});
