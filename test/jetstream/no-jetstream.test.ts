/**
 * The control plane on a NATS server that runs without JetStream (`nats-server` without -js),
 * against real servers. A publish was ONEX_E_NO_STREAM "run `onex streams apply`" after its 10 s of
 * retries, which no stream applied could mend (the apply itself fails there), and a subscription
 * ONEX_E_STREAM_CONFIG "jetstream is not enabled" after 30 s or more of retries. Both are now
 * ONEX_E_CONNECTION, saying the server runs without JetStream (`details.reason` "no-jetstream"),
 * as the CLI reports such a server: a publish once its retries are spent, a subscription after
 * 30 s of asking. A server without JetStream of its own whose cluster runs it (JetStream's API
 * answers through it) is no such server: a missing stream there is still ONEX_E_NO_STREAM; and a
 * publish through a leaf node whose hub restarts is retried until the hub is back.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import { onexFailure as failure } from "../support/onex-failure.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startNatsServer, type NatsServer } from "../support/nats-server.js";
import { applyBundledStreams, client, makeKeys, stateUpdate, ZONE } from "./fixtures.js";

const keys = makeKeys();
const servers: NatsServer[] = [];
const clients: OnexClient[] = [];
const stores: string[] = [];

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
  await Promise.all(stores.map((dir) => rm(dir, { recursive: true, force: true })));
});

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

  it("publish and publishMany are ONEX_E_CONNECTION (no JetStream), not ONEX_E_NO_STREAM, once their retries are spent", async () => {
    const message = stateUpdate("n-nojs");
    // The old code said ONEX_E_NO_STREAM, with or without retries.
    for (const options of [{ retryForMs: 0 }, { retryForMs: 1_000 }]) {
      const error = await failure(() => c.publish(message, options));
      expectNoJetStream(error, server);
      expect([error.details.subject, error.details.messageId]).toEqual([message.subject(), message.id]);
    }
    const many = await failure(() => c.publishMany([stateUpdate("n-nojs-2")], { retryForMs: 0 }));
    expectNoJetStream(many, server);
  });

  it("subscribe is ONEX_E_CONNECTION (no JetStream), not a stream configuration the server refused", { timeout: 120_000 }, async () => {
    // The old code retried for 30 s or more before it said ONEX_E_STREAM_CONFIG. subscribeVersioned opens the same way.
    expectNoJetStream(await failure(() => c.subscribe([v0_1.StateUpdate], { zone: ZONE, durable: "tracker" })), server);
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

describe("a leaf node without JetStream whose hub runs it (publishes only: no JetStream domain)", () => {
  it("rides out the hub's restart: a publish with retries is stored", { timeout: 120_000 }, async () => {
    const [leafPort, hubPort] = [await freePort(), await freePort()];
    const store = await mkdtemp(join(tmpdir(), "onex-hub-"));
    stores.push(store);
    const hubConfig = `server_name: hub\nleafnodes { listen: "127.0.0.1:${leafPort}" }`;
    const startHub = () => serve({ port: hubPort, storeDir: store, config: hubConfig });
    let hub = await startHub();
    const leaf = await serve({ jetstream: false, config: `server_name: leaf\nleafnodes { remotes: [ { url: "nats-leaf://127.0.0.1:${leafPort}" } ], reconnect: 1 }` });
    await applyBundledStreams(hub.url);
    const c = await open(leaf.url);
    // Once the leaf's link is up, JetStream answers through it.
    await c.publish(stateUpdate("n-leaf-1"), { retryForMs: 30_000 });
    await hub.stop();
    const back = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      hub = await startHub();
    })();
    // The first check took the hub's absence for no JetStream at all: ONEX_E_CONNECTION within milliseconds.
    const receipt = await c.publish(stateUpdate("n-leaf-2"), { retryForMs: 30_000 });
    await back;
    expect(receipt.stream).toBe("ONEX_EVENT");
    // The stream holds it, read on the hub (a leaf without a JetStream domain passes publishes, not JetStream's API).
    const admin = await open(hub.url);
    const stored = await (await admin.manager()).streams.getMessage("ONEX_EVENT", { last_by_subj: stateUpdate("n-leaf-2").subject() });
    expect(JSON.parse(stored!.string()).source.entity_id).toBe("n-leaf-2");
  });
});
