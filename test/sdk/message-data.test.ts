/**
 * A message owns its data (issue 13, item 3): `create()`, `parse()` and `toJSON()` never share
 * a mutable object with the caller, so reusing an input object, or changing it after the call,
 * cannot change a message already built.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as v0_2 from "../../generated/v0.2/index.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { handOver } from "../../runtime/message.js";
import { canonicalize } from "../../runtime/trust/canonical-json.js";

const zone = "zone.trusted.org";
const source = { zone, entity_type: "task", entity_id: "t-1" } as const;
const trust = { signer: "key-1", level: "verified", zone, expires_at: "2030-01-01T00:00:00Z" } as const;

describe("messages own their data", () => {
  it("three TaskDispatch messages built in a loop from one reused payload object keep three task_ids", () => {
    const payload: v0_2.TaskDispatchPayload = { task_id: "", targets: ["n-1"], operation: "render", priority: 5, retry: { max_attempts: 2 } };
    const built: v0_2.TaskDispatch[] = [];
    for (const id of ["t-1", "t-2", "t-3"]) {
      payload.task_id = id;
      payload.retry!.max_attempts = built.length + 1;
      built.push(v0_2.TaskDispatch.create({ source, trust, payload }));
    }
    expect(built.map((m) => m.payload.task_id)).toEqual(["t-1", "t-2", "t-3"]);
    expect(built.map((m) => m.payload.retry?.max_attempts)).toEqual([1, 2, 3]);
  });

  it("changing the input after create() leaves the message as it was, and still valid", () => {
    const fields: v0_2.TaskDispatchInit = { source: { ...source }, trust: { ...trust }, payload: { task_id: "t-1", targets: ["n-1"], operation: "render", priority: 5 } };
    const msg = v0_2.TaskDispatch.create(fields);
    fields.source.zone = "Not A Zone";
    fields.payload.targets.length = 0;
    (fields.payload as { priority: unknown }).priority = "high";
    expect(msg.source.zone).toBe(zone);
    expect(msg.payload.targets).toEqual(["n-1"]);
    expect(v0_2.TaskDispatch.parse(msg.encode()).toJSON()).toEqual(msg.toJSON());
  });

  it("parse() of an object keeps a copy: later changes to the object reach neither the message nor what was validated", () => {
    const data = v0_2.StateUpdate.create({ source, trust, payload: { state: "idle" } }).toJSON() as { payload: { state: string } };
    const msg = v0_2.StateUpdate.parse(data);
    data.payload.state = "asleep";
    expect(msg.payload.state).toBe("idle");
    expect(v0_2.StateUpdate.is(msg.toJSON())).toBe(true);
  });

  it("an object the runtime handed over is kept by the next parse() alone: given to any later one, it is copied", () => {
    const handed = v0_2.StateUpdate.create({ source, trust, payload: { state: "idle" } }).toJSON() as { payload: { state: string } };
    const other = v0_2.StateUpdate.create({ source, trust, payload: { state: "running" } }).toJSON();
    expect(v0_2.StateUpdate.parse(handOver(handed)).payload).toBe(handed.payload);
    handOver(handed);
    v0_2.StateUpdate.parse(other);
    const later = v0_2.StateUpdate.parse(handed);
    handed.payload.state = "asleep";
    expect(later.payload.state).toBe("idle");
  });

  it("parse(undefined) is refused as what JSON cannot carry, with nothing handed over", () => {
    expect(() => v0_2.StateUpdate.parse(undefined as never)).toThrow(expect.objectContaining({ code: ErrorCode.CanonicalJson }));
  });

  it("toJSON() hands out a copy: changing it leaves the message unchanged", () => {
    const msg = v0_2.StateUpdate.create({ source, trust, payload: { state: "idle" } });
    const json = msg.toJSON() as { payload: { state: string }; source: { zone: string } };
    json.payload.state = "asleep";
    json.source.zone = "elsewhere";
    expect(msg.payload.state).toBe("idle");
    expect(msg.source.zone).toBe(zone);
    expect(msg.toJSON()).not.toBe(msg.toJSON());
  });

  it("the protocol block create() fills in is the message's own", () => {
    const a = v0_2.StateUpdate.create({ source, trust, payload: { state: "idle" } });
    const b = v0_2.StateUpdate.create({ source, trust, payload: { state: "idle" } });
    a.protocol.compatible_with.push("9.9");
    expect(b.protocol.compatible_with).toEqual(["0.1"]);
    expect(v0_2.protocolBlock().compatible_with).toEqual(["0.1"]);
  });

  it("a cyclic input is ONEX_E_VALIDATION, not a stack overflow", () => {
    const payload: Record<string, unknown> = { state: "idle" };
    payload.self = payload;
    const error = catchError(() => v0_2.StateUpdate.parse({ ...v0_2.StateUpdate.create({ source, trust, payload: { state: "idle" } }).toJSON(), payload }));
    expect(error.code).toBe(ErrorCode.ValidationFailed);
  });

  it("an input nested more than 1000 levels deep is ONEX_E_VALIDATION too, by create() and parse(); 1000 levels are data", () => {
    const nested = (levels: number) => {
      const root: Record<string, unknown> = {};
      let at = root;
      for (let i = 1; i < levels; i++) at = (at.x = {}) as Record<string, unknown>;
      return root;
    };
    const output = (levels: number) => ({ source, trust, payload: { task_id: "t-1", status: "failed" as const, output: { deep: nested(levels) } } });
    expect(catchError(() => v0_2.ResultReady.create(output(1_001))).code).toBe(ErrorCode.ValidationFailed);
    const stored = v0_2.ResultReady.create(output(10)).toJSON() as { payload: object };
    expect(catchError(() => v0_2.ResultReady.parse({ ...stored, payload: { ...stored.payload, output: { deep: nested(1_001) } } })).code).toBe(ErrorCode.ValidationFailed);
    // Counted from the message: its envelope and payload are levels too.
    expect(v0_2.ResultReady.create(output(990)).payload.output).toEqual({ deep: nested(990) });
  });

  it("what JSON cannot carry is refused by create() with its path, never turned into something else on the way to the wire", () => {
    const ready = (output: Record<string, unknown>) => v0_2.ResultReady.create({ source, trust, payload: { task_id: "t-1", status: "failed", output } });
    const cases: [Record<string, unknown>, string][] = [
      [{ when: new Date(0) }, "/payload/output/when"],
      [{ tags: new Set(["a"]) }, "/payload/output/tags"],
      [{ index: new Map([["a", 1]]) }, "/payload/output/index"],
      [{ deep: { n: Number.NaN } }, "/payload/output/deep/n"],
      [{ list: [1, undefined] }, "/payload/output/list/1"],
      [{ call: () => 1 }, "/payload/output/call"],
      [{ small: 5n }, "/payload/output/small"],
      [{ text: "a\ud800" }, "/payload/output/text"],
      [{ "\udc00": 1 }, "/payload/output/\\udc00"],
    ];
    for (const [output, path] of cases) {
      const error = catchError(() => ready(output));
      expect([error.code, error.details.instancePath], path).toEqual([ErrorCode.CanonicalJson, path]);
    }
    // An undefined member is no member, as in JSON; the message holds what its bytes hold.
    expect(ready({ kept: 1, gone: undefined }).payload.output).toEqual({ kept: 1 });
    // A BigInt is how onex carries an integer beyond 2^53 exactly (the JSON reader's bigint mode): kept, and encoded as its digits.
    expect(new TextDecoder().decode(ready({ big: 2n ** 64n }).encode())).toContain('"big":18446744073709551616');
  });

  it("create() refuses exactly the values canonicalize refuses (BigInt aside, above), and what it keeps survives encode() and parse()", () => {
    const anything = fc.anything({ withDate: true, withMap: true, withSet: true, withNullPrototype: true, withSparseArray: true, withTypedArray: true, withBoxedValues: true, withObjectString: true, maxDepth: 3 });
    fc.assert(
      fc.property(fc.dictionary(fc.string(), anything, { maxKeys: 4 }), (output) => {
        let canonical: string | OnexError;
        try {
          canonical = canonicalize(output);
        } catch (error) {
          canonical = error as OnexError;
        }
        let msg: v0_2.ResultReady | OnexError;
        try {
          msg = ready(output);
        } catch (error) {
          msg = error as OnexError;
        }
        if (canonical instanceof OnexError) {
          // Both refuse; create() names the first bad value in its own walk's order, a value canonicalize refuses too.
          if (!(msg instanceof OnexError)) throw new Error(`accepted what canonicalize refuses: ${canonical.message}`);
          expect(msg.code).toBe(ErrorCode.CanonicalJson);
          const path = String(msg.details.instancePath).split("/").slice(3).map((segment) => segment.replace(/~1/g, "/").replace(/~0/g, "~"));
          const bad = path.reduce<unknown>((value, key) => (value as Record<string, unknown>)[key], output);
          expect(() => canonicalize(bad)).toThrow();
        } else {
          if (msg instanceof OnexError) throw msg;
          expect(canonicalize(msg.payload.output)).toBe(canonical);
          expect(canonicalize(v0_2.ResultReady.parse(msg.encode()).toJSON())).toBe(canonicalize(msg.toJSON()));
        }
      }),
      { numRuns: 500 },
    );
    function ready(output: Record<string, unknown>) {
      return v0_2.ResultReady.create({ source, trust, payload: { task_id: "t-1", status: "failed", output } });
    }
  });

  it("a member named __proto__ stays a member and never becomes the prototype", () => {
    const data = JSON.parse(`{"__proto__": {"polluted": true}, "state": "idle"}`) as object;
    const msg = v0_2.StateUpdate.create({ source, trust, payload: { state: "idle" } });
    const copy = catchError(() => v0_2.StateUpdate.parse({ ...msg.toJSON(), payload: data }));
    // StateUpdatePayload forbids extra members, so it is refused; the copy made on the way kept it a member.
    expect(copy.code).toBe(ErrorCode.ValidationFailed);
    expect(copy.details.params).toEqual({ additionalProperty: "__proto__" });
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });
});

function catchError(fn: () => unknown): OnexError {
  try {
    fn();
  } catch (error) {
    if (error instanceof OnexError) return error;
    throw error;
  }
  throw new Error("expected an OnexError");
}
