/**
 * What the negotiation API does with arguments plain JavaScript can give it, against a real
 * nats-server. Options of `null` and a `buildOffer` input without its fields failed as raw
 * TypeErrors, and any failure of the request itself (a connection that is none, a payload the
 * client refuses) was reported as ONEX_E_NEGOTIATION_TIMEOUT "no answer ... within 30000 ms",
 * at once.
 */
import { connect as natsConnect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import { buildOffer, type OfferInput, type ProtocolOffer } from "../../runtime/negotiation/agreement.js";
import { negotiate } from "../../runtime/negotiation/handshake.js";
import { serveNegotiation } from "../../runtime/negotiation/negotiation-service.js";
import { probe } from "../../runtime/negotiation/probe.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";

let server: NatsServer;
let nc: NatsConnection;
beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
  nc = await natsConnect({ servers: server.url });
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

const failure = (run: () => unknown) =>
  Promise.resolve()
    .then(run)
    .then(
      () => undefined,
      (error: unknown) => error as OnexError,
    );
const protocol = v0_1.protocolBlock();
const input = (): OfferInput => ({ deployment: "dc-a", protocol, indexes: [{ version: protocol.version, content_hash: `sha256:${"0".repeat(64)}` } as OfferInput["indexes"][number]] });
const untypedNegotiate = negotiate as unknown as (...args: unknown[]) => Promise<unknown>;
const untypedBuildOffer = buildOffer as unknown as (input: unknown) => ProtocolOffer;

describe("negotiation, given what the types forbid", () => {
  it("refuses negotiate options, a connection or an offer that are none with ONEX_E_USAGE, before anything is sent", async () => {
    const offer = buildOffer(input());
    const nullOptions = await failure(() => untypedNegotiate(nc, offer, "dc-b", null));
    expect([nullOptions?.code, nullOptions?.message]).toEqual([ErrorCode.Usage, "negotiate: options must be an object, not null"]);
    for (const connection of [null, {}, "nats://127.0.0.1:4222"]) {
      const error = await failure(() => untypedNegotiate(connection, offer, "dc-b", { timeoutMs: 30_000 }));
      // It was ONEX_E_NEGOTIATION_TIMEOUT "no answer on onex.negotiate.dc-b within 30000 ms", after a millisecond.
      expect([JSON.stringify(connection), error?.code]).toEqual([JSON.stringify(connection), ErrorCode.Usage]);
      expect(error?.message).toMatch(/^negotiate: nc/);
    }
    expect((await failure(() => untypedNegotiate(nc, null, "dc-b")))?.code).toBe(ErrorCode.Usage);
    const probed = await failure(() => probe("dc-b", { nc: {} as NatsConnection, known: [] }));
    expect(probed?.code).toBe(ErrorCode.Usage);
    expect((await failure(() => (probe as unknown as (...args: unknown[]) => unknown)("dc-b", null)))?.code).toBe(ErrorCode.Usage);
    expect((await failure(() => (serveNegotiation as unknown as (...args: unknown[]) => unknown)(nc, null)))?.code).toBe(ErrorCode.Usage);
  });

  it("refuses a buildOffer input without its fields with ONEX_E_USAGE, naming the field", async () => {
    const { compatible_with: _dropped, ...withoutCompatible } = protocol;
    const cases: [unknown, RegExp][] = [
      [null, /^buildOffer: input must be an object, not null$/],
      [{}, /^buildOffer: deployment /],
      [{ ...input(), deployment: 5 }, /^buildOffer: deployment /],
      [{ ...input(), protocol: withoutCompatible }, /^buildOffer: protocol must be a protocol block/],
      [{ ...input(), protocol: { ...protocol, compatible_with: "0.0.9" } }, /^buildOffer: protocol /],
      [{ ...input(), indexes: null }, /^buildOffer: indexes /],
      [{ ...input(), indexes: [null] }, /^buildOffer: indexes /],
      [{ ...input(), graph: "graph" }, /^buildOffer: graph must be an object/],
    ];
    for (const [given, message] of cases) {
      const error = await failure(() => untypedBuildOffer(given));
      expect([JSON.stringify(given), error?.code]).toEqual([JSON.stringify(given), ErrorCode.Usage]);
      expect(error?.message).toMatch(message);
    }
    expect(buildOffer(input()).speaks.map((v) => v.version)).toEqual([protocol.version]);
  });

  it("reports a request that failed here as what failed, not as a peer that did not answer", async () => {
    // Over the server's max_payload: nats.js refuses to send it at once.
    const offer = { ...buildOffer(input()), padding: "x".repeat(2 * nc.info!.max_payload) } as ProtocolOffer;
    const error = await failure(() => negotiate(nc, offer, "dc-b", { timeoutMs: 30_000 }));
    // A request that could not be sent, said so: not a wait for an answer, and an OnexError (nats.js's own error is its cause).
    expect(error?.code).toBe(ErrorCode.ConnectionFailed);
    expect(error?.message).toContain("the request on onex.negotiate.dc-b failed");
    // A real silence is still the timeout it was, and nothing serving the subject too.
    const silent = await failure(() => negotiate(nc, buildOffer(input()), "dc-nobody", { timeoutMs: 200 }));
    expect([silent?.code, silent?.details.noResponders]).toEqual([ErrorCode.NegotiationTimeout, true]);
    const listener = nc.subscribe("onex.negotiate.dc-quiet", { callback: () => undefined });
    try {
      await nc.flush();
      const late = await failure(() => negotiate(nc, buildOffer(input()), "dc-quiet", { timeoutMs: 200 }));
      expect([late?.code, late?.details.noResponders]).toEqual([ErrorCode.NegotiationTimeout, false]);
      expect(late?.message).toContain("no answer on onex.negotiate.dc-quiet within 200 ms");
    } finally {
      listener.unsubscribe();
    }
  });
});
