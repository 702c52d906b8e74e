/**
 * The generated typed adapters (`migrateV0_2ToV0_1.taskDispatch(message)`) validate their input
 * in the version they read. A step checks only the output members it changed, so without that
 * an invalid member passed on as it was, or an empty list a step reads one item of, came out
 * as an invalid or shorter message and no error (plain JavaScript, or a cast, gets past the types).
 */
import { describe, expect, it } from "vitest";
import { migrateV0_1ToV0_2, migrateV0_2ToV0_1 } from "../../generated/transforms/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { ErrorCode } from "../../runtime/errors.js";

const trust = { signer: "key-1", level: "verified" as const, zone: "zone.a", expires_at: "2030-01-01T00:00:00Z" };
const dispatch = v0_2.TaskDispatch.create({ source: { zone: "zone.a", entity_type: "node", entity_id: "n1" }, trust, payload: { task_id: "t-1", targets: ["n2"], operation: "run", priority: 1 } }).toJSON();

describe("typed adapters", () => {
  it("convert a valid message, and back to the same message", () => {
    const old = migrateV0_2ToV0_1.taskDispatch(dispatch);
    expect(old.protocol.version).toBe("0.1");
    expect(migrateV0_1ToV0_2.taskDispatch(old)).toEqual(dispatch);
  });

  it.each([
    ["an id that is no string, passed on as it was", { ...dispatch, id: 5 }, "/id"],
    ["a trust level that is no string", { ...dispatch, trust: { ...trust, level: 7 } }, "/trust/level"],
    ["an empty target list, of which v0.1 keeps one target", { ...dispatch, payload: { ...dispatch.payload, targets: [] } }, "/payload/targets"],
  ])("refuse %s: ONEX_E_VALIDATION in the version read", (_what, message, path) => {
    expect(() => migrateV0_2ToV0_1.taskDispatch(message as never)).toThrow(expect.objectContaining({ code: ErrorCode.ValidationFailed, details: expect.objectContaining({ instancePath: path, version: "0.2" }) }));
  });
});
