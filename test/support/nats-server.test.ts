import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "./nats-server.js";

let server: NatsServer;
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(() => server.stop());

describe("the nats-server test harness", () => {
  it("starts a JetStream server that clients can use, and survives a kill and restart", async () => {
    let nc = await connect({ servers: server.url });
    expect((await nc.request("$JS.API.INFO", "")).json<{ type: string }>().type).toBe("io.nats.jetstream.api.v1.account_info_response");
    await nc.close();
    await server.kill();
    await server.restart();
    nc = await connect({ servers: server.url });
    expect(nc.info?.jetstream).toBe(true);
    await nc.close();
  });
});
