/**
 * A publish's failure is typed by what nats.js says happened, not by words in its message: a
 * permission violation on a subject that holds "503" or "timeout" is not a missing stream or a
 * timeout, and a closed or draining connection is no timeout worth retrying — on the typed
 * publish and on the dead-letter replay path alike.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import { replayDeadLetter, type ReplayPlan } from "../../runtime/jetstream/dead-letter-replay.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { applyStreams, planStreams } from "../../runtime/jetstream/streams.js";
import { client, makeKeys, stateUpdate } from "./fixtures.js";

const keys = makeKeys();
const denied503 = stateUpdate("n-503").subject();
const deniedTimeout = stateUpdate("timeout").subject();
let server: NatsServer;
const login = { user: "u", pass: "p" };

beforeAll(async () => {
  server = await startNatsServer({
    config: `authorization { users = [ { user: u, password: p, permissions: { publish: { deny: ["${denied503}", "${deniedTimeout}", "$JS.API.CONSUMER.CREATE.>", "$JS.API.CONSUMER.DURABLE.CREATE.>"] } } } ] }`,
  });
  const nc = await natsConnect({ servers: server.url, ...login });
  await applyStreams(await jetstreamManager(nc), planStreams([v0_1, v0_2], {}));
  await nc.close();
});
afterAll(async () => {
  await server?.stop();
});

function plan(target: string): ReplayPlan {
  return { letter: {} as ReplayPlan["letter"], target, type: "StateUpdate", version: "0.1", data: new TextEncoder().encode("{}"), signer: "" };
}

async function failure(promise: Promise<unknown>): Promise<{ code: string; ms: number }> {
  const started = Date.now();
  const error = (await promise.then(() => undefined, (e: unknown) => e)) as OnexError | undefined;
  return { code: String(error?.code), ms: Date.now() - started };
}

describe("dead-letter replay", () => {
  it("reports a permission violation on a subject holding 503 or timeout as ONEX_E_PERMISSION_DENIED, at once", async () => {
    const nc = await natsConnect({ servers: server.url, ...login });
    try {
      for (const subject of [denied503, deniedTimeout]) {
        const { code, ms } = await failure(replayDeadLetter(jetstream(nc), plan(subject)));
        expect(code, subject).toBe(ErrorCode.PermissionDenied);
        expect(ms, subject).toBeLessThan(5_000);
      }
    } finally {
      await nc.close();
    }
  });

  it("reports a closed or draining connection as ONEX_E_CONNECTION, not a timeout", async () => {
    const nc = await natsConnect({ servers: server.url, ...login });
    const js = jetstream(nc);
    const draining = nc.drain();
    expect((await failure(replayDeadLetter(js, plan(stateUpdate("n-1").subject())))).code).toBe(ErrorCode.ConnectionFailed);
    await draining;
    expect((await failure(replayDeadLetter(js, plan(stateUpdate("n-1").subject())))).code).toBe(ErrorCode.ConnectionFailed);
  });

  it("still reports a subject no stream takes as ONEX_E_NO_STREAM", async () => {
    const nc = await natsConnect({ servers: server.url, ...login });
    try {
      expect((await failure(replayDeadLetter(jetstream(nc), plan("nothing.stores.this")))).code).toBe(ErrorCode.NoStream);
    } finally {
      await nc.close();
    }
  });
});

describe("typed publish", () => {
  it("reports a permission violation on a subject holding 503 as ONEX_E_PERMISSION_DENIED, without retrying", async () => {
    const publisher = await client(server.url, keys.node, [keys.node], login);
    try {
      const { code, ms } = await failure(publisher.publish(stateUpdate("n-503"), { retryForMs: 10_000 }));
      expect(code).toBe(ErrorCode.PermissionDenied);
      expect(ms).toBeLessThan(5_000);
      expect((await publisher.publish(stateUpdate("n-1"))).stream).toBeTruthy();
    } finally {
      await publisher.close();
    }
  });
});

describe("a durable consumer the connection may not create", () => {
  it("is ONEX_E_PERMISSION_DENIED at once, whatever its name says (one named timeout-watch was retried for 30 s)", async () => {
    const subscriber = await client(server.url, keys.node, [keys.node], login);
    try {
      for (const durable of ["plain-watch", "timeout-watch", "leader"]) {
        const { code, ms } = await failure(subscriber.subscribe([v0_1.StateUpdate], { durable }));
        expect([durable, code]).toEqual([durable, ErrorCode.PermissionDenied]);
        expect(ms, durable).toBeLessThan(5_000);
      }
    } finally {
      await subscriber.close();
    }
  });
});
