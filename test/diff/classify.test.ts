import { describe, expect, it } from "vitest";
import { classify, describeEffect, verdictOf, Verdict } from "../../generator/diff/classify.js";
import { compareSchemas, type RefResolver } from "../../generator/diff/compare-schemas.js";
import type { JsonSchema } from "../../generator/model.js";

const noRefs: RefResolver = (ref) => {
  throw new Error(`unexpected ref ${ref}`);
};

/** Every change between two hand-written schemas as `path kind effect`. */
function changes(oldSchema: JsonSchema, newSchema: JsonSchema, oldResolve = noRefs, newResolve = noRefs): string[] {
  return compareSchemas(oldSchema, newSchema, oldResolve, newResolve).map((c) => `${c.path} ${c.kind} ${describeEffect(classify(c))}`);
}

const closed = (properties: Record<string, JsonSchema>, required: string[] = []): JsonSchema => ({ type: "object", additionalProperties: false, required, properties });
const open = (properties: Record<string, JsonSchema>, required: string[] = []): JsonSchema => ({ type: "object", required, properties });
const partial = (properties: Record<string, JsonSchema>, extra: JsonSchema, required: string[] = []): JsonSchema => ({ type: "object", additionalProperties: extra, required, properties });
const str: JsonSchema = { type: "string" };

describe("property added / removed, by content model", () => {
  it("optional property added to a closed model breaks FORWARD only (old readers reject it; old data never has it)", () => {
    expect(changes(closed({ a: str }), closed({ a: str, b: str }))).toEqual(["/b property-added breaks FORWARD"]);
  });
  it("optional property removed from a closed model breaks BACKWARD only (old data may carry it)", () => {
    expect(changes(closed({ a: str, b: str }), closed({ a: str }))).toEqual(["/b property-removed breaks BACKWARD"]);
  });
  it("optional property added to an open model breaks BACKWARD only (old data may hold anything there)", () => {
    expect(changes(open({ a: str }), open({ a: str, b: str }))).toEqual(["/b property-added breaks BACKWARD"]);
  });
  it("optional property removed from an open model breaks FORWARD only (new data may hold anything there)", () => {
    expect(changes(open({ a: str, b: str }), open({ a: str }))).toEqual(["/b property-removed breaks FORWARD"]);
  });
  it("an unconstrained property added to an open model is compatible", () => {
    expect(changes(open({}), open({ b: {} }))).toEqual(["/b property-added compatible"]);
  });
  it("required property added to a closed model breaks both", () => {
    expect(changes(closed({}), closed({ b: str }, ["b"]))).toEqual(["/b property-added breaks BACKWARD+FORWARD"]);
  });
  it("required property added to an unconstrained open model breaks BACKWARD only", () => {
    expect(changes(open({}), open({ b: {} }, ["b"]))).toEqual(["/b property-added breaks BACKWARD"]);
  });
  it("required property removed from an open model breaks FORWARD", () => {
    expect(changes(open({ b: {} }, ["b"]), open({}))).toEqual(["/b property-removed breaks FORWARD"]);
  });
  it("partially open model: a property whose values fit additionalProperties is compatible both ways", () => {
    expect(changes(partial({}, str), partial({ b: str }, str))).toEqual(["/b property-added compatible"]);
  });
  it("partially open model: a property narrower than additionalProperties breaks BACKWARD", () => {
    expect(changes(partial({}, str), partial({ b: { type: "string", maxLength: 3 } }, str))).toEqual(["/b property-added breaks BACKWARD"]);
  });
  it("partially open model: a property wider than additionalProperties breaks FORWARD", () => {
    expect(changes(partial({}, str), partial({ b: { type: ["string", "integer"] } }, str))).toEqual(["/b property-added breaks FORWARD"]);
  });
});

describe("required, content model", () => {
  it("required added breaks BACKWARD; required removed breaks FORWARD", () => {
    expect(changes(closed({ a: str }), closed({ a: str }, ["a"]))).toEqual(["/a required-added breaks BACKWARD"]);
    expect(changes(closed({ a: str }, ["a"]), closed({ a: str }))).toEqual(["/a required-removed breaks FORWARD"]);
  });
  it("closing an open model breaks BACKWARD; opening a closed one breaks FORWARD", () => {
    expect(changes(open({ a: str }), closed({ a: str }))).toEqual([" content-model-closed breaks BACKWARD"]);
    expect(changes(closed({ a: str }), open({ a: str }))).toEqual([" content-model-opened breaks FORWARD"]);
  });
  it("a changed additionalProperties schema of a map is compared as `*`", () => {
    expect(changes(partial({}, str), partial({}, { type: "string", minLength: 1 }))).toEqual(["/* constraint-added breaks BACKWARD"]);
  });
});

describe("types", () => {
  it("narrowed breaks BACKWARD, widened breaks FORWARD, integer -> number is widening", () => {
    expect(changes({ type: ["string", "null"] }, str)).toEqual([" type-narrowed breaks BACKWARD"]);
    expect(changes(str, { type: ["string", "null"] })).toEqual([" type-widened breaks FORWARD"]);
    expect(changes({ type: "integer" }, { type: "number" })).toEqual([" type-widened breaks FORWARD"]);
    expect(changes({ type: "number" }, { type: "integer" })).toEqual([" type-narrowed breaks BACKWARD"]);
  });
  it("a changed type breaks both", () => {
    expect(changes(str, { type: "boolean" })).toEqual([" type-changed breaks BACKWARD+FORWARD"]);
  });
  it("scalar <-> array and scalar <-> object break both, and nothing below them is compared", () => {
    expect(changes(str, { type: "array", items: str, minItems: 1 })).toEqual([" scalar-to-array breaks BACKWARD+FORWARD"]);
    expect(changes({ type: "array", items: str }, str)).toEqual([" array-to-scalar breaks BACKWARD+FORWARD"]);
    expect(changes(str, closed({ m: str }))).toEqual([" scalar-to-object breaks BACKWARD+FORWARD"]);
    expect(changes(closed({ m: str }), str)).toEqual([" object-to-scalar breaks BACKWARD+FORWARD"]);
  });
  it("array items are compared at `-`", () => {
    expect(changes({ type: "array", items: str }, { type: "array", items: { type: "integer" } })).toEqual(["/- type-changed breaks BACKWARD+FORWARD"]);
  });
});

describe("enum and const", () => {
  it("enum values removed break BACKWARD, added break FORWARD, both are reported", () => {
    expect(changes({ type: "string", enum: ["a", "b"] }, { type: "string", enum: ["a"] })).toEqual([" enum-narrowed breaks BACKWARD"]);
    expect(changes({ type: "string", enum: ["a"] }, { type: "string", enum: ["a", "b"] })).toEqual([" enum-extended breaks FORWARD"]);
    expect(changes({ type: "string", enum: ["a", "b"] }, { type: "string", enum: ["a", "c"] })).toEqual([" enum-narrowed breaks BACKWARD", " enum-extended breaks FORWARD"]);
  });
  it("enum added is a constraint added; enum removed a constraint removed", () => {
    expect(changes(str, { type: "string", enum: ["a"] })).toEqual([" constraint-added breaks BACKWARD"]);
    expect(changes({ type: "string", enum: ["a"] }, str)).toEqual([" constraint-removed breaks FORWARD"]);
  });
  it("const added / removed / changed", () => {
    expect(changes(str, { type: "string", const: "x" })).toEqual([" const-added breaks BACKWARD"]);
    expect(changes({ type: "string", const: "x" }, str)).toEqual([" const-removed breaks FORWARD"]);
    expect(changes({ const: "0.1" }, { const: "0.2" })).toEqual([" const-changed breaks BACKWARD+FORWARD"]);
  });
});

describe("constraints", () => {
  it("added breaks BACKWARD, removed breaks FORWARD", () => {
    for (const [keyword, value] of [["minLength", 1], ["maxLength", 9], ["pattern", "^a"], ["format", "uuid"], ["minimum", 0], ["maximum", 9], ["multipleOf", 2]] as const) {
      expect(changes(str, { type: "string", [keyword]: value }), keyword).toEqual([" constraint-added breaks BACKWARD"]);
      expect(changes({ type: "string", [keyword]: value }, str), keyword).toEqual([" constraint-removed breaks FORWARD"]);
    }
    expect(changes({ type: "array", items: str }, { type: "array", items: str, minItems: 1 })).toEqual([" constraint-added breaks BACKWARD"]);
    expect(changes({ type: "array", items: str }, { type: "array", items: str, uniqueItems: true })).toEqual([" constraint-added breaks BACKWARD"]);
  });
  it("a raised lower bound or lowered upper bound is tightening; the reverse is relaxing", () => {
    expect(changes({ type: "string", minLength: 1 }, { type: "string", minLength: 2 })).toEqual([" constraint-tightened breaks BACKWARD"]);
    expect(changes({ type: "string", minLength: 2 }, { type: "string", minLength: 1 })).toEqual([" constraint-relaxed breaks FORWARD"]);
    expect(changes({ type: "integer", maximum: 9 }, { type: "integer", maximum: 5 })).toEqual([" constraint-tightened breaks BACKWARD"]);
    expect(changes({ type: "array", maxItems: 3 }, { type: "array", maxItems: 5 })).toEqual([" constraint-relaxed breaks FORWARD"]);
  });
  it("a swapped pattern or format breaks both", () => {
    expect(changes({ type: "string", pattern: "^a" }, { type: "string", pattern: "^b" })).toEqual([" constraint-changed breaks BACKWARD+FORWARD"]);
    expect(changes({ type: "string", format: "uuid" }, { type: "string", format: "uri" })).toEqual([" constraint-changed breaks BACKWARD+FORWARD"]);
  });
  it("annotations (description, default, title) are not changes", () => {
    expect(changes({ type: "string", description: "a", default: "x" }, { type: "string", description: "b", default: "y", title: "T" })).toEqual([]);
  });
});

describe("refs and verdicts", () => {
  it("follows refs on each side with that side's resolver, reporting the instance path", () => {
    const oldRecords: Record<string, JsonSchema> = { Trust: closed({ level: { type: "string", enum: ["low", "high"] } }) };
    const newRecords: Record<string, JsonSchema> = { Trust: closed({ level: { type: "string", enum: ["low", "high", "max"] } }) };
    const resolver = (records: Record<string, JsonSchema>): RefResolver => (ref) => records[ref.replace(/^onex:/, "")]!;
    expect(changes(closed({ trust: { $ref: "onex:Trust" } }), closed({ trust: { $ref: "onex:Trust" } }), resolver(oldRecords), resolver(newRecords))).toEqual([
      "/trust/level enum-extended breaks FORWARD",
    ]);
  });
  it("a recursive record is walked without looping", () => {
    const node: JsonSchema = open({ child: { $ref: "onex:Node" } });
    const resolve: RefResolver = () => node;
    expect(changes({ $ref: "onex:Node" }, { $ref: "onex:Node" }, resolve, resolve)).toEqual([]);
  });
  it("verdict: FULL with no breaking change, BACKWARD / FORWARD when one side holds, NONE when neither", () => {
    expect(verdictOf([])).toBe(Verdict.Full);
    expect(verdictOf([{ backward: false, forward: true }])).toBe(Verdict.Backward);
    expect(verdictOf([{ backward: true, forward: false }])).toBe(Verdict.Forward);
    expect(verdictOf([{ backward: true, forward: false }, { backward: false, forward: true }])).toBe(Verdict.None);
  });
});
