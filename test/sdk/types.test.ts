/**
 * The names and types the SDK exports (issue 13, item 5). These are checked by `npm run
 * typecheck` (CI runs it over test/): an expectTypeOf that does not hold fails there.
 */
import { describe, expect, expectTypeOf, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { versionGraph } from "../../generated/transforms/index.js";
import type { MessageOf, VersionedSubscription } from "../../runtime/control-plane.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";

const zone = "zone.trusted.org";
const source = { zone, entity_type: "task", entity_id: "t-1" } as const;
const trust = { signer: "key-1", level: "verified", zone, expires_at: "2030-01-01T00:00:00Z" } as const;

describe("the SDK's exported types", () => {
  it("protocolBlock() is typed as the protocol field and fits create({ protocol })", () => {
    expectTypeOf(v0_2.protocolBlock()).toEqualTypeOf<v0_2.ProtocolBlock>();
    expectTypeOf<v0_2.ProtocolBlock>().toEqualTypeOf<v0_2.Protocol>();
    const msg = v0_2.StateUpdate.create({ source, trust, payload: { state: "idle" }, protocol: v0_2.protocolBlock() });
    expect(msg.protocol).toEqual(v0_2.protocolBlock());
    expectTypeOf(v0_1.protocolBlock().version).toEqualTypeOf<"0.1">();
  });

  it("validators are type guards for their data type", () => {
    expectTypeOf(v0_2.validators.Trust).guards.toEqualTypeOf<v0_2.Trust>();
    expectTypeOf(v0_2.validators.TaskDispatch).guards.toEqualTypeOf<v0_2.TaskDispatchData>();
    const value: unknown = v0_2.StateUpdate.create({ source, trust, payload: { state: "idle" } }).toJSON();
    if (!v0_2.validators.StateUpdate(value)) throw new Error("expected a valid StateUpdate");
    expectTypeOf(value.payload.state).toEqualTypeOf<"idle" | "running" | "draining" | "degraded" | "offline">();
    expect(value.payload.state).toBe("idle");
  });

  it("exports the plain data interfaces and AnyMessageData", () => {
    expectTypeOf<v0_2.AnyMessageData["type"]>().toEqualTypeOf<v0_2.MessageType>();
    expectTypeOf<v0_2.TaskDispatchData["payload"]>().toEqualTypeOf<v0_2.TaskDispatchPayload>();
    const data: v0_2.AnyMessageData = v0_2.StateUpdate.create({ source, trust, payload: { state: "idle" } }).toJSON();
    expect(data.type).toBe("signal.state.update");
  });

  it("toJSON() is typed as the message's data, and its copy builds a message again", () => {
    const dispatch = v0_2.TaskDispatch.create({ source, trust, payload: { task_id: "t-1", targets: ["n-1"], operation: "train", priority: 5 } });
    const data: v0_2.TaskDispatchData = dispatch.toJSON();
    expectTypeOf(data.payload).toEqualTypeOf<v0_2.TaskDispatchPayload>();
    const again = v0_2.TaskDispatch.create({ ...dispatch.toJSON(), payload: { ...data.payload, priority: 6 } });
    expect(again.payload.priority).toBe(6);
  });

  it("a versioned subscription hands out the receiver's version's messages, typed", () => {
    expectTypeOf<MessageOf<typeof v0_1>>().toEqualTypeOf<v0_1.AnyMessage>();
    // Inferred from the receiver, as a service writes it (never called: the type is what is checked).
    const subscribe = (client: OnexClient) => client.subscribeVersioned({ sdk: v0_2, sources: [v0_1], graph: versionGraph });
    expectTypeOf<Awaited<ReturnType<typeof subscribe>>>().toEqualTypeOf<VersionedSubscription<v0_2.AnyMessage>>();
    expect(Object.keys(v0_1.messageClasses)).toContain("signal.state.update");
  });

  it("nested objects are exported types named from their path, never numbered", () => {
    expectTypeOf<NonNullable<v0_2.TaskDispatchPayload["retry"]>>().toEqualTypeOf<v0_2.TaskDispatchPayloadRetry>();
    expectTypeOf<v0_2.NodeRegisterPayload["build"]>().toEqualTypeOf<v0_2.NodeRegisterPayloadBuild>();
    const retry: v0_2.TaskDispatchPayloadRetry = { max_attempts: 3 };
    expect(v0_2.TaskDispatch.create({ source, trust, payload: { task_id: "t", targets: ["n"], operation: "o", priority: 1, retry } }).payload.retry).toEqual(retry);
  });
});
