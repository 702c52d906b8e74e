/**
 * The control plane on a NATS server that runs without JetStream (`nats-server` without -js),
 * against real servers. A publish was ONEX_E_NO_STREAM "run `onex streams apply`" after its 10 s of
 * retries, which no stream applied could mend (the apply itself fails there), and a subscription
 * ONEX_E_STREAM_CONFIG "jetstream is not enabled" after 30 s or more of retries. Both are now
 * ONEX_E_CONNECTION at once, saying the server runs without JetStream (`details.reason`
 * "no-jetstream"), as the CLI reports such a server. A server without JetStream of its own whose
 * cluster runs it (JetStream's API answers through it) is no such server: a missing stream there
 * is still ONEX_E_NO_STREAM.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { versionGraph } from "../../generated/transforms/index.js";
import { ErrorCode, isOnexError, type OnexError } from "../../runtime/errors.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { freePort, startNatsServer, type NatsServer } from "../support/nats-server.js";
import { client, makeKeys, stateUpdate, ZONE } from "./fixtures.js";

const keys = makeKeys();
const servers: NatsServer[] = [];
const clients: OnexClient[] = [];

async function serve(options: Parameters<typeof startNatsServer>[0] = {}): Promise<NatsServer> {
  const server = await startNatsServer(options);
  servers.push(server);
  return server;
}

async function open(url: string): Promise<OnexClient> {
  const c = await client(url, keys.node, [keys.node]);
  clients.push(c);
  return c;
}

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(servers.map((s) => s.stop()));
});

/** What `fn` rejects with; fails the test for a raw error or none. */
async function failure(fn: () => Promise<unknown>): Promise<OnexError> {
  try {
    await fn();
  } catch (error) {
    if (isOnexError(error)) return error;
    throw error;
  }
  throw new Error("no error");
}

function expectNoJetStream(error: OnexError, server: NatsServer): void {
  expect([error.code, error.details.reason, error.details.server]).toEqual([ErrorCode.ConnectionFailed, "no-jetstream", `127.0.0.1:${server.port}`]);
  expect(error.message).toContain(`the NATS server 127.0.0.1:${server.port} runs without JetStream`);
  expect(error.message).toContain("start nats-server with -js");
  // Not the advice for a missing stream: no stream can be applied to such a server.
  expect(error.message).not.toMatch(/streams apply|applyStreams/);
}

describe("a server without JetStream", () => {
  let server: NatsServer;
  let c: OnexClient;
  beforeAll(async () => {
    server = await serve({ jetstream: false });
    c = await open(server.url);
  });

  it("publish and publishMany are ONEX_E_CONNECTION (no JetStream), not ONEX_E_NO_STREAM, and are not retried as a missing stream", async () => {
    const message = stateUpdate("n-nojs");
    // With one attempt (retryForMs 0) too: the old code said ONEX_E_NO_STREAM, with or without retries.
    for (const options of [{ retryForMs: 0 }, {}]) {
      const error = await failure(() => c.publish(message, options));
      expectNoJetStream(error, server);
      expect([error.details.subject, error.details.messageId]).toEqual([message.subject(), message.id]);
    }
    const many = await failure(() => c.publishMany([stateUpdate("n-nojs-2")]));
    expectNoJetStream(many, server);
  });

  it("subscribe and subscribeVersioned are ONEX_E_CONNECTION (no JetStream), not a stream configuration the server refused", { timeout: 150_000 }, async () => {
    // The old code retried each for 30 s or more before it said ONEX_E_STREAM_CONFIG.
    expectNoJetStream(await failure(() => c.subscribe([v0_1.StateUpdate])), server);
    expectNoJetStream(await failure(() => c.subscribe([v0_1.StateUpdate], { zone: ZONE, durable: "tracker" })), server);
    expectNoJetStream(await failure(() => c.subscribeVersioned({ sdk: v0_2, sources: [v0_1, v0_2], graph: versionGraph })), server);
  });
});

describe("a server without JetStream of its own in a cluster whose other server runs it", () => {
  it("reports a missing stream as ONEX_E_NO_STREAM, as JetStream's API answers through it", async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const route = (port: number) => `nats-route://127.0.0.1:${port}`;
    await serve({ config: `server_name: with-js\ncluster { name: mixed, listen: "127.0.0.1:${portA}", routes: ["${route(portB)}"] }` });
    const without = await serve({ jetstream: false, config: `server_name: without-js\ncluster { name: mixed, listen: "127.0.0.1:${portB}", routes: ["${route(portA)}"] }` });
    const c = await open(without.url);
    expect(c.nc.info?.jetstream).not.toBe(true);
    // Once the route is up, JetStream's API answers through it (until then nothing does: no JetStream, rightly).
    for (let tries = 0; ; tries++) {
      const answered = await c.nc.request("$JS.API.INFO", undefined, { timeout: 1_000 }).then(
        () => true,
        () => false,
      );
      if (answered) break;
      if (tries >= 100) throw new Error("JetStream's API never answered through the server without it");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const error = await failure(() => c.publish(stateUpdate("n-mixed"), { retryForMs: 0 }));
    expect([error.code, error.message]).toEqual([ErrorCode.NoStream, expect.stringContaining("no stream accepts subject")]);
  });
});
