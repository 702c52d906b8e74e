/**
 * How services build messages in the version of the SDK they are given: the class is looked
 * up by type, the source goes where the version's envelope layout says, and of the payload
 * shapes offered the version's own validator picks the one it has. A value the version
 * refuses (a pattern, a bound) is the caller's mistake and keeps its validation error; only
 * when no shape has the version's fields is it ONEX_E_SDK_MISMATCH.
 */
import { describe, expect, it } from "vitest";
import * as v0_0_9 from "../../generated/v0.0.9/index.js";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { MessageBuilder } from "../../runtime/service-messages.js";

const SOURCE = { zone: "zone.trusted.org", entityType: "node", entityId: "n-1" };
const trust = (level: string) => ({ signer: "k", level, zone: SOURCE.zone, expires_at: "2027-01-01T00:00:00Z" });
const failure = (reason: string) => [
  { node_id: "n-2", severity: "error", reason },
  { node_id: "n-2", severity: "error", reason: { message: reason, code: "heartbeat_lapsed" } },
];

function thrown(fn: () => unknown): OnexError {
  try {
    fn();
  } catch (error) {
    if (error instanceof OnexError) return error;
    throw error;
  }
  throw new Error("nothing thrown");
}

describe("MessageBuilder", () => {
  it("builds the payload shape each version has, with the source where its layout puts it", () => {
    const old = new MessageBuilder(v0_0_9, "event.node.failed", "test").build(SOURCE, trust("high"), failure("gone")) as v0_0_9.NodeFailed;
    expect(old).toBeInstanceOf(v0_0_9.NodeFailed);
    expect([old.zone, old.entity_id, old.payload.reason]).toEqual([SOURCE.zone, "n-1", "gone"]);
    const mid = new MessageBuilder(v0_1, "event.node.failed", "test").build(SOURCE, trust("verified"), failure("gone")) as v0_1.NodeFailed;
    expect(mid.payload.reason).toBe("gone");
    const builder = new MessageBuilder(v0_2, "event.node.failed", "test");
    for (let i = 0; i < 2; i++) {
      const next = builder.build(SOURCE, trust("verified"), failure(`gone ${i}`)) as v0_2.NodeFailed;
      expect(next.payload.reason).toEqual({ message: `gone ${i}`, code: "heartbeat_lapsed" });
      expect(next.source).toEqual({ zone: SOURCE.zone, entity_type: "node", entity_id: "n-1" });
    }
  });

  it("keeps the validation error of a value the version refuses, and of a wrong envelope", () => {
    const request = new MessageBuilder(v0_2, "signal.artifact.request", "test");
    const bad = thrown(() => request.build(SOURCE, trust("verified"), [{ peer_id: "p", root_hash: "not-a-hash" }]));
    expect([bad.code, bad.details.instancePath]).toEqual([ErrorCode.ValidationFailed, "/payload/root_hash"]);
    const level = thrown(() => new MessageBuilder(v0_0_9, "event.node.failed", "test").build(SOURCE, trust("verified"), failure("gone")));
    expect([level.code, level.details.instancePath]).toEqual([ErrorCode.ValidationFailed, "/trust/level"]);
  });

  it("is ONEX_E_SDK_MISMATCH for a type the SDK lacks, or when no shape has the version's fields", () => {
    expect(thrown(() => new MessageBuilder(v0_1, "event.artifact.have", "the swarm"))).toMatchObject({ code: ErrorCode.SdkMismatch, details: { type: "event.artifact.have", version: "0.1" } });
    const none = thrown(() => new MessageBuilder(v0_2, "event.node.failed", "test").build(SOURCE, trust("verified"), [failure("gone")[0]!]));
    expect(none).toMatchObject({ code: ErrorCode.SdkMismatch, details: { type: "event.node.failed", version: "0.2" } });
    expect((none.cause as OnexError).details.instancePath).toBe("/payload/reason");
  });
});
