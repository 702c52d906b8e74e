/**
 * A negotiation request's failure is read from the error's kind, not its words: a late answer
 * on a deployment whose name holds "503" is no "nothing serves", and a closed connection is no
 * peer that did not answer.
 */
import { connect as natsConnect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import { probe } from "../../runtime/negotiation/probe.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";

let server: NatsServer;
beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
});
afterAll(async () => {
  await server?.stop();
});

const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error as OnexError);

describe("probing a deployment over NATS", () => {
  it("says nothing serves a name no one listens on, and that a listener did not answer in time on one holding 503", async () => {
    const nc = await natsConnect({ servers: server.url });
    try {
      nc.subscribe("onex.schemas.dc-503", { callback: () => undefined }); // listens, never answers
      await nc.flush();
      const nobody = await failure(probe("dc-nobody", { nc, known: [], timeoutMs: 2_000 }));
      expect([nobody?.code, nobody?.details.noResponders]).toEqual([ErrorCode.NegotiationTimeout, true]);
      const late = await failure(probe("dc-503", { nc, known: [], timeoutMs: 300 }));
      expect([late?.code, late?.details.noResponders]).toEqual([ErrorCode.NegotiationTimeout, false]);
      expect(late?.message).toContain("no answer on onex.schemas.dc-503 within 300 ms");
    } finally {
      await nc.close();
    }
  });

  it("reports a closed connection as ONEX_E_CONNECTION, not a peer that did not answer", async () => {
    const nc = await natsConnect({ servers: server.url });
    await nc.close();
    const closed = await failure(probe("dc-1", { nc, known: [], timeoutMs: 300 }));
    expect(closed?.code).toBe(ErrorCode.ConnectionFailed);
  });
});
