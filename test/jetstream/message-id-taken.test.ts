/**
 * A message's id is the stream's de-duplication id (`Nats-Msg-Id`), and a zone member may publish
 * anything under any id. A member who predicts a message's id (a producer that sets name-based
 * ids) stores something else under it first: the genuine publish is then answered
 * `duplicate: true` and not stored. Before, `publish` resolved with that receipt, and the message
 * was lost without a word. Against a server running the generated config, as member a2.
 */
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { zoneStreamNameOf } from "../../runtime/jetstream/streams.js";
import { putDurableConsumer } from "../../runtime/jetstream/durable-consumer.js";
import { removeTempDirs } from "../support/temp-schemas.js";
import { ZONE_A, startTwoZones, update, type TwoZones } from "./zones.js";

let zones: TwoZones;

beforeAll(async () => {
  zones = await startTwoZones();
});

afterAll(async () => {
  await zones?.stop();
  await removeTempDirs();
});

describe("a duplicate receipt is checked against what the stream holds", () => {
  it.each([
    ["on the message's own subject", (subject: string) => subject],
    ["on another entity's subject (the id is the stream's, not the subject's)", (subject: string) => subject.replace(/node-victim/, "node-other")],
  ])("a member's message stored first under the id, %s: the publish fails as ONEX_E_PUBLISH_FAILED", async (_name, where) => {
    const victim = await zones.member("a");
    const { js } = await zones.raw("a2");
    const message = update(ZONE_A, "node-victim");
    await js.publish(where(message.subject()), '{"garbage":true}', { msgID: message.id });

    const outcome = await victim.publish(message).then(
      (receipt) => receipt,
      (error: unknown) => error,
    );
    expect(outcome).toBeInstanceOf(OnexError);
    expect((outcome as OnexError).code).toBe(ErrorCode.PublishFailed);
    expect((outcome as OnexError).details.reason).toBe("id-taken");
    // Published again under a new id, it is stored.
    const again = update(ZONE_A, "node-victim");
    expect((await victim.publish(again)).duplicate).toBe(false);
  });

  it("the same message published twice is a duplicate of itself: a receipt, not an error", async () => {
    const publisher = await zones.member("a");
    const message = update(ZONE_A, "node-twice");
    const first = await publisher.publish(message);
    const second = await publisher.publish(message);
    expect(second).toMatchObject({ duplicate: true, sequence: first.sequence });
  });

  it("a message signed by this client's key under the id, with other bytes (published again from another instance), is a receipt too", async () => {
    const publisher = await zones.member("a");
    const message = update(ZONE_A, "node-copy");
    const first = await publisher.publish(message);
    // The same id signed again with other bytes (a process that restarted and published its message again): the same signer.
    const copy = v0_1.StateUpdate.create({ id: message.id, source: message.source, trust: message.trust, payload: { state: "busy" } });
    const second = await publisher.publish(copy).catch((error: unknown) => error);
    expect(second).toMatchObject({ duplicate: true, sequence: first.sequence });
  });

  it("a member who first fills the stream's consumers, so none can be made to read with, still cannot pass the taken id off as a receipt", async () => {
    // Reading the stored message through a consumer of its own failed at the zone's consumer
    // limit, and a read that failed left the duplicate receipt standing: the message was lost.
    const limited = await startTwoZones("", ["--zone-consumers", "3"]);
    try {
      const { nc, js } = await limited.raw("a2");
      const jsm = await jetstreamManager(nc, { checkAPI: false });
      for (let i = 0; i < 3; i++) await putDurableConsumer(jsm, zoneStreamNameOf("event", ZONE_A), { durable_name: `flood-${i}`, ack_policy: AckPolicy.Explicit });
      const victim = await limited.member("a");
      const message = update(ZONE_A, "node-victim");
      await js.publish(message.subject(), '{"garbage":true}', { msgID: message.id });

      const outcome = await victim.publish(message).then(
        (receipt) => receipt,
        (error: unknown) => error,
      );
      expect(outcome).toBeInstanceOf(OnexError);
      expect((outcome as OnexError).details.reason).toBe("id-taken");
    } finally {
      await limited.stop();
    }
  });
});
