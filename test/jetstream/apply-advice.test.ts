/**
 * The advice to create the streams, as a service that has only the SDK and @onex/runtime reads it
 * in its logs, against a real nats-server with JetStream and no streams. Each said only "run
 * `onex streams apply`", a command such a service does not have; each now names the runtime calls
 * that do the same too (`applyStreams(jsm, planStreams(sdks))` of @onex/runtime/jetstream), still
 * beside the command.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { ErrorCode } from "../../runtime/errors.js";
import { onexFailure as failure } from "../support/onex-failure.js";
import { natsAccountsConfig } from "../../runtime/jetstream/authorization.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { deadLetterStreamOf, getDeadLetter, listDeadLetters } from "../../runtime/jetstream/dead-letter.js";
import { applyStreams, planStreams } from "../../runtime/jetstream/streams.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { client, makeKeys, stateUpdate } from "./fixtures.js";

const IN_CODE = "(in code: applyStreams(jsm, planStreams(sdks)) of @onex/runtime/jetstream)";

let server: NatsServer;
let nc: NatsConnection;
let c: OnexClient;
const keys = makeKeys();

beforeAll(async () => {
  server = await startNatsServer();
  nc = await natsConnect({ servers: server.url });
  c = await client(server.url, keys.node, [keys.node]);
});

afterAll(async () => {
  await c?.close();
  await nc?.close();
  await server?.stop();
});

describe("a missing stream", () => {
  it("a publish no stream accepts names the command and applyStreams/planStreams", async () => {
    const error = await failure(() => c.publish(stateUpdate("n-advice"), { retryForMs: 0 }));
    expect(error.code).toBe(ErrorCode.NoStream);
    expect(error.message).toContain(`; run \`onex streams apply\` ${IN_CODE}`);
  });

  it("a subscription with no stream to read names them too", async () => {
    const error = await failure(() => c.subscribe([v0_1.StateUpdate]));
    expect(error.code).toBe(ErrorCode.NoStream);
    expect(error.message).toContain(`run \`onex streams apply\` ${IN_CODE}; in a zoned deployment`);
  });

  it("the dead-letter readers with no dead-letter stream name them too", async () => {
    const jsm = await jetstreamManager(nc);
    for (const read of [() => listDeadLetters(jsm), () => deadLetterStreamOf(jsm, undefined), () => getDeadLetter(jsm, 1)]) {
      const error = await failure(read);
      expect(error.code).toBe(ErrorCode.NoStream);
      expect(error.message).toContain(`run \`onex streams apply\` ${IN_CODE}`);
    }
  });

  it("and once the streams are applied with those calls, the publish is stored", async () => {
    await applyStreams(await jetstreamManager(nc), planStreams([v0_1, v0_2]));
    expect((await c.publish(stateUpdate("n-advice"))).stream).toBe("ONEX_EVENT");
  });
});

describe("the accounts configuration", () => {
  it("says how each zone's streams are created in code too, as its admin", () => {
    const config = natsAccountsConfig([v0_1], [{ user: "admin", password: "pw", zone: "zone.a", role: "admin" }]);
    expect(config).toContain("# Create each zone's streams with `onex streams apply --identities` (it connects as each zone's admin; in code: applyStreams(jsm, planStreams(sdks, limits, deadLetterLimits, [zone])) of @onex/runtime/jetstream, connected as the zone's admin).");
  });
});
