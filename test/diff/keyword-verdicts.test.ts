/**
 * What `onex diff` says about every JSON Schema 2020-12 keyword that can change what a
 * message accepts (issue 14, item 4). The verdicts were written down from the semantics of
 * the keywords before the comparison learnt them:
 *
 *   breaks "backward" — some message valid under the old schema is invalid under the new one
 *                       (new readers fail on old data: the new schema is narrower);
 *   breaks "forward"  — some message valid under the new schema is invalid under the old one
 *                       (old readers fail on new data: the new schema is wider);
 *   "both", or "none".
 *
 * Where the answer depends on what the schemas' values overlap in (oneOf branches that may
 * overlap, a changed `if`), onex cannot decide structurally; it then says "both" and the
 * change's detail says it could not decide (`conservative: true`).
 */
import { describe, expect, it } from "vitest";
import { classify, verdictOf, Verdict } from "../../generator/diff/classify.js";
import { compareSchemas, type RefResolver } from "../../generator/diff/compare-schemas.js";
import type { JsonSchema } from "../../generator/model.js";

type Breaks = "none" | "backward" | "forward" | "both";

interface Pair {
  what: string;
  old: JsonSchema;
  new: JsonSchema;
  breaks: Breaks;
  /** onex cannot decide this one and must say so in the change's detail. */
  conservative?: true;
}

const noRefs: RefResolver = (ref) => {
  throw new Error(`unexpected ref ${ref}`);
};

const str: JsonSchema = { type: "string" };
const int: JsonSchema = { type: "integer" };
const num: JsonSchema = { type: "number" };
const abc = { a: str, b: str, c: str };
/** An object with optional string properties a, b, c and `extra` keywords; closed unless `open`. */
const obj = (extra: JsonSchema = {}, open = false): JsonSchema => ({ type: "object", ...(open ? {} : { additionalProperties: false }), properties: abc, ...extra });
const openObj = (extra: JsonSchema = {}): JsonSchema => ({ type: "object", ...extra });
const kindIs = (kind: string): JsonSchema => ({ type: "object", required: ["kind"], properties: { kind: { const: kind } } });

const pairs: Pair[] = [
  // dependentRequired: more names required when a property is present accepts fewer objects.
  { what: "dependentRequired added", old: obj(), new: obj({ dependentRequired: { a: ["b"] } }), breaks: "backward" },
  { what: "dependentRequired removed", old: obj({ dependentRequired: { a: ["b"] } }), new: obj(), breaks: "forward" },
  { what: "dependentRequired gains a name", old: obj({ dependentRequired: { a: ["b"] } }), new: obj({ dependentRequired: { a: ["b", "c"] } }), breaks: "backward" },
  { what: "dependentRequired loses a name", old: obj({ dependentRequired: { a: ["b", "c"] } }), new: obj({ dependentRequired: { a: ["b"] } }), breaks: "forward" },
  { what: "dependentRequired swaps a name", old: obj({ dependentRequired: { a: ["b"] } }), new: obj({ dependentRequired: { a: ["c"] } }), breaks: "both" },
  { what: "dependentRequired gains a key", old: obj({ dependentRequired: { a: ["b"] } }), new: obj({ dependentRequired: { a: ["b"], c: ["b"] } }), breaks: "backward" },
  { what: "dependentRequired with an empty list added", old: obj(), new: obj({ dependentRequired: { a: [] } }), breaks: "none" },
  {
    what: "v0.3 adds dependentRequired {root_hash: [endpoint]} to signal.artifact.request (the issue's case)",
    old: { type: "object", additionalProperties: false, required: ["name"], properties: { name: str, root_hash: str, endpoint: str } },
    new: { type: "object", additionalProperties: false, required: ["name"], properties: { name: str, root_hash: str, endpoint: str }, dependentRequired: { root_hash: ["endpoint"] } },
    breaks: "backward",
  },
  { what: "dependentRequired unchanged", old: obj({ dependentRequired: { a: ["b"] } }), new: obj({ dependentRequired: { a: ["b"] } }), breaks: "none" },

  // dependentSchemas: a schema applied to the whole object when a property is present.
  { what: "dependentSchemas added", old: obj(), new: obj({ dependentSchemas: { a: { required: ["b"] } } }), breaks: "backward" },
  { what: "dependentSchemas removed", old: obj({ dependentSchemas: { a: { required: ["b"] } } }), new: obj(), breaks: "forward" },
  {
    what: "dependentSchemas subschema narrowed",
    old: obj({ dependentSchemas: { a: { properties: { b: { type: "string", maxLength: 5 } } } } }),
    new: obj({ dependentSchemas: { a: { properties: { b: { type: "string", maxLength: 3 } } } } }),
    breaks: "backward",
  },
  {
    what: "dependentSchemas subschema widened",
    old: obj({ dependentSchemas: { a: { properties: { b: { type: "string", maxLength: 3 } } } } }),
    new: obj({ dependentSchemas: { a: { properties: { b: { type: "string", maxLength: 5 } } } } }),
    breaks: "forward",
  },
  { what: "dependentSchemas with an empty schema added", old: obj(), new: obj({ dependentSchemas: { a: {} } }), breaks: "none" },

  // patternProperties: a schema for every property whose name matches.
  { what: "patternProperties added to an open object", old: openObj(), new: openObj({ patternProperties: { "^x-": str } }), breaks: "backward" },
  { what: "patternProperties removed from an open object", old: openObj({ patternProperties: { "^x-": str } }), new: openObj(), breaks: "forward" },
  { what: "patternProperties added to a closed object (lets matching names in)", old: obj(), new: obj({ patternProperties: { "^x-": str } }), breaks: "forward" },
  { what: "patternProperties removed from a closed object", old: obj({ patternProperties: { "^x-": str } }), new: obj(), breaks: "backward" },
  {
    what: "patternProperties schema narrowed",
    old: openObj({ patternProperties: { "^x-": str } }),
    new: openObj({ patternProperties: { "^x-": { type: "string", maxLength: 3 } } }),
    breaks: "backward",
  },
  { what: "patternProperties schema widened", old: openObj({ patternProperties: { "^x-": str } }), new: openObj({ patternProperties: { "^x-": { type: ["string", "integer"] } } }), breaks: "forward" },
  // Each pattern is added or removed beside another that might match the same names: onex does not compare regular expressions.
  { what: "patternProperties pattern swapped", old: openObj({ patternProperties: { "^x-": str } }), new: openObj({ patternProperties: { "^y-": str } }), breaks: "both", conservative: true },
  { what: "patternProperties with an empty schema added to an open object", old: openObj(), new: openObj({ patternProperties: { "^x-": {} } }), breaks: "none" },

  // propertyNames: a schema every property name must pass.
  { what: "propertyNames added", old: openObj(), new: openObj({ propertyNames: { pattern: "^[a-z]+$" } }), breaks: "backward" },
  { what: "propertyNames removed", old: openObj({ propertyNames: { pattern: "^[a-z]+$" } }), new: openObj(), breaks: "forward" },
  { what: "propertyNames maxLength lowered", old: openObj({ propertyNames: { maxLength: 10 } }), new: openObj({ propertyNames: { maxLength: 5 } }), breaks: "backward" },
  { what: "propertyNames maxLength raised", old: openObj({ propertyNames: { maxLength: 5 } }), new: openObj({ propertyNames: { maxLength: 10 } }), breaks: "forward" },
  { what: "propertyNames pattern swapped", old: openObj({ propertyNames: { pattern: "^a" } }), new: openObj({ propertyNames: { pattern: "^b" } }), breaks: "both" },

  // required on a property not listed under properties.
  { what: "required added for an unlisted property of an open object", old: obj({}, true), new: obj({ required: ["z"] }, true), breaks: "backward" },
  { what: "required removed for an unlisted property of an open object", old: obj({ required: ["z"] }, true), new: obj({}, true), breaks: "forward" },
  { what: "required added for an unlisted property of a closed object", old: obj(), new: obj({ required: ["z"] }), breaks: "backward" },
  { what: "required on an unlisted property kept", old: obj({ required: ["z"] }, true), new: obj({ required: ["z"] }, true), breaks: "none" },

  // allOf: every member must hold.
  { what: "allOf added", old: obj(), new: obj({ allOf: [{ required: ["a"] }] }), breaks: "backward" },
  { what: "allOf removed", old: obj({ allOf: [{ required: ["a"] }] }), new: obj(), breaks: "forward" },
  { what: "allOf gains a member", old: obj({ allOf: [{ required: ["a"] }] }), new: obj({ allOf: [{ required: ["a"] }, { required: ["b"] }] }), breaks: "backward" },
  { what: "allOf loses a member", old: obj({ allOf: [{ required: ["a"] }, { required: ["b"] }] }), new: obj({ allOf: [{ required: ["a"] }] }), breaks: "forward" },
  {
    what: "allOf member narrowed",
    old: obj({ allOf: [{ properties: { a: { maxLength: 5 } } }] }),
    new: obj({ allOf: [{ properties: { a: { maxLength: 3 } } }] }),
    breaks: "backward",
  },
  {
    what: "allOf member widened",
    old: obj({ allOf: [{ properties: { a: { maxLength: 3 } } }] }),
    new: obj({ allOf: [{ properties: { a: { maxLength: 5 } } }] }),
    breaks: "forward",
  },
  { what: "allOf members reordered", old: obj({ allOf: [{ required: ["a"] }, { required: ["b"] }] }), new: obj({ allOf: [{ required: ["b"] }, { required: ["a"] }] }), breaks: "none" },

  // anyOf: at least one branch must hold.
  { what: "anyOf gains a branch", old: { anyOf: [str, int] }, new: { anyOf: [str, int, { type: "boolean" }] }, breaks: "forward" },
  { what: "anyOf loses a branch", old: { anyOf: [str, int, { type: "boolean" }] }, new: { anyOf: [str, int] }, breaks: "backward" },
  { what: "anyOf branch narrowed", old: { anyOf: [{ type: "string", maxLength: 5 }, int] }, new: { anyOf: [{ type: "string", maxLength: 3 }, int] }, breaks: "backward" },
  { what: "anyOf branch widened", old: { anyOf: [{ type: "string", maxLength: 3 }, int] }, new: { anyOf: [{ type: "string", maxLength: 5 }, int] }, breaks: "forward" },
  { what: "anyOf branches reordered", old: { anyOf: [str, int] }, new: { anyOf: [int, str] }, breaks: "none" },
  { what: "anyOf added", old: obj(), new: obj({ anyOf: [{ required: ["a"] }, { required: ["b"] }] }), breaks: "backward" },
  { what: "anyOf removed", old: obj({ anyOf: [{ required: ["a"] }, { required: ["b"] }] }), new: obj(), breaks: "forward" },

  // oneOf: exactly one branch must hold. Exact when the branches cannot overlap (distinct types, or distinct constants of one required property).
  { what: "oneOf of distinct types gains a branch", old: { oneOf: [str, int] }, new: { oneOf: [str, int, { type: "boolean" }] }, breaks: "forward" },
  { what: "oneOf of distinct types loses a branch", old: { oneOf: [str, int, { type: "boolean" }] }, new: { oneOf: [str, int] }, breaks: "backward" },
  { what: "oneOf of distinct types: a branch narrowed", old: { oneOf: [str, int] }, new: { oneOf: [{ type: "string", maxLength: 3 }, int] }, breaks: "backward" },
  { what: "oneOf discriminated by a constant gains a branch", old: { oneOf: [kindIs("a"), kindIs("b")] }, new: { oneOf: [kindIs("a"), kindIs("b"), kindIs("c")] }, breaks: "forward" },
  { what: "oneOf discriminated by a constant loses a branch", old: { oneOf: [kindIs("a"), kindIs("b"), kindIs("c")] }, new: { oneOf: [kindIs("a"), kindIs("b")] }, breaks: "backward" },
  { what: "oneOf branches reordered", old: { oneOf: [str, int] }, new: { oneOf: [int, str] }, breaks: "none" },
  {
    what: "oneOf whose branches may overlap gains a branch",
    old: obj({ oneOf: [{ required: ["a"] }, { required: ["b"] }] }),
    new: obj({ oneOf: [{ required: ["a"] }, { required: ["b"] }, { required: ["c"] }] }),
    breaks: "both",
    conservative: true,
  },
  {
    what: "oneOf whose branches may overlap: a branch narrowed",
    old: obj({ oneOf: [{ required: ["a"] }, { required: ["b"] }] }),
    new: obj({ oneOf: [{ required: ["a"] }, { required: ["b", "c"] }] }),
    breaks: "both",
    conservative: true,
  },

  // not: the subschema must fail, so its changes count the other way round.
  { what: "not added", old: obj(), new: obj({ not: { required: ["a"] } }), breaks: "backward" },
  { what: "not removed", old: obj({ not: { required: ["a"] } }), new: obj(), breaks: "forward" },
  { what: "not's subschema widened (accepts less)", old: { type: "string", not: { maxLength: 3 } }, new: { type: "string", not: { maxLength: 5 } }, breaks: "backward" },
  { what: "not's subschema narrowed (accepts more)", old: { type: "string", not: { maxLength: 5 } }, new: { type: "string", not: { maxLength: 3 } }, breaks: "forward" },
  { what: "not const x -> not enum [x, y]", old: { type: "string", not: { const: "x" } }, new: { type: "string", not: { enum: ["x", "y"] } }, breaks: "backward" },
  { what: "not enum [x, y] -> not const x", old: { type: "string", not: { enum: ["x", "y"] } }, new: { type: "string", not: { const: "x" } }, breaks: "forward" },

  // if / then / else.
  { what: "then added under an unchanged if", old: obj({ if: { required: ["a"] } }), new: obj({ if: { required: ["a"] }, then: { required: ["b"] } }), breaks: "backward" },
  { what: "then removed", old: obj({ if: { required: ["a"] }, then: { required: ["b"] } }), new: obj({ if: { required: ["a"] } }), breaks: "forward" },
  {
    what: "then narrowed",
    old: obj({ if: { required: ["a"] }, then: { properties: { b: { maxLength: 5 } } } }),
    new: obj({ if: { required: ["a"] }, then: { properties: { b: { maxLength: 3 } } } }),
    breaks: "backward",
  },
  {
    what: "else widened",
    old: obj({ if: { required: ["a"] }, then: { required: ["b"] }, else: { properties: { c: { maxLength: 3 } } } }),
    new: obj({ if: { required: ["a"] }, then: { required: ["b"] }, else: { properties: { c: { maxLength: 5 } } } }),
    breaks: "forward",
  },
  {
    what: "if changed under an unchanged then",
    old: obj({ if: { properties: { a: { const: "x" } } }, then: { required: ["b"] } }),
    new: obj({ if: { properties: { a: { const: "y" } } }, then: { required: ["b"] } }),
    breaks: "both",
    conservative: true,
  },
  { what: "if and then added together", old: obj(), new: obj({ if: { required: ["a"] }, then: { required: ["b"] } }), breaks: "backward" },
  { what: "an if alone added (asserts nothing)", old: obj(), new: obj({ if: { required: ["a"] } }), breaks: "none" },

  // const and enum are one value set.
  { what: "enum [x, y] -> const x", old: { type: "string", enum: ["x", "y"] }, new: { type: "string", const: "x" }, breaks: "backward" },
  { what: "const x -> enum [x, y]", old: { type: "string", const: "x" }, new: { type: "string", enum: ["x", "y"] }, breaks: "forward" },
  { what: "enum [x, y] -> const z", old: { type: "string", enum: ["x", "y"] }, new: { type: "string", const: "z" }, breaks: "both" },
  { what: "const x -> enum [x]", old: { type: "string", const: "x" }, new: { type: "string", enum: ["x"] }, breaks: "none" },
  { what: "enum reordered", old: { type: "string", enum: ["x", "y"] }, new: { type: "string", enum: ["y", "x"] }, breaks: "none" },
  { what: "const x -> const y", old: { const: "x" }, new: { const: "y" }, breaks: "both" },
  { what: "enum [x, y, z] -> enum [x, y] with const x kept beside it", old: { type: "string", const: "x", enum: ["x", "y", "z"] }, new: { type: "string", const: "x", enum: ["x", "y"] }, breaks: "none" },

  // Exclusive bounds are bounds too.
  { what: "minimum 0 -> exclusiveMinimum 0", old: { ...num, minimum: 0 }, new: { ...num, exclusiveMinimum: 0 }, breaks: "backward" },
  { what: "exclusiveMinimum 0 -> minimum 0", old: { ...num, exclusiveMinimum: 0 }, new: { ...num, minimum: 0 }, breaks: "forward" },
  { what: "maximum 10 -> exclusiveMaximum 10", old: { ...num, maximum: 10 }, new: { ...num, exclusiveMaximum: 10 }, breaks: "backward" },
  { what: "exclusiveMaximum 10 -> maximum 10", old: { ...num, exclusiveMaximum: 10 }, new: { ...num, maximum: 10 }, breaks: "forward" },
  { what: "integer exclusiveMinimum 0 -> minimum 1 (the same integers)", old: { ...int, exclusiveMinimum: 0 }, new: { ...int, minimum: 1 }, breaks: "none" },
  { what: "number exclusiveMinimum 0 -> minimum 1", old: { ...num, exclusiveMinimum: 0 }, new: { ...num, minimum: 1 }, breaks: "backward" },
  { what: "minimum 0 -> exclusiveMinimum -1", old: { ...num, minimum: 0 }, new: { ...num, exclusiveMinimum: -1 }, breaks: "forward" },
  { what: "minimum 5 beside exclusiveMinimum 3 -> minimum 5 alone", old: { ...num, minimum: 5, exclusiveMinimum: 3 }, new: { ...num, minimum: 5 }, breaks: "none" },
  { what: "exclusiveMinimum 0 -> exclusiveMinimum 1", old: { ...num, exclusiveMinimum: 0 }, new: { ...num, exclusiveMinimum: 1 }, breaks: "backward" },

  // Array keywords beside items.
  { what: "contains added", old: { type: "array" }, new: { type: "array", contains: str }, breaks: "backward" },
  { what: "contains subschema narrowed", old: { type: "array", contains: str }, new: { type: "array", contains: { type: "string", maxLength: 3 } }, breaks: "backward" },
  { what: "prefixItems gains a position", old: { type: "array", prefixItems: [str] }, new: { type: "array", prefixItems: [str, int] }, breaks: "backward" },
  { what: "prefixItems position widened", old: { type: "array", prefixItems: [str] }, new: { type: "array", prefixItems: [{ type: ["string", "integer"] }] }, breaks: "forward" },
];

function breaksOf(pair: Pair): { breaks: Breaks; details: string[] } {
  const changes = compareSchemas(pair.old, pair.new, noRefs, noRefs);
  const effects = changes.map(classify);
  const backward = effects.some((e) => e.backward);
  const forward = effects.some((e) => e.forward);
  return { breaks: backward && forward ? "both" : backward ? "backward" : forward ? "forward" : "none", details: changes.map((c) => c.detail) };
}

describe("onex diff verdicts for the rest of JSON Schema 2020-12", () => {
  it("covers at least 60 schema pairs", () => {
    expect(pairs.length).toBeGreaterThanOrEqual(60);
  });

  for (const pair of pairs) {
    it(`${pair.what}: breaks ${pair.breaks}`, () => {
      const { breaks, details } = breaksOf(pair);
      expect(breaks, details.join("; ")).toBe(pair.breaks);
      if (pair.conservative) expect(details.join("; ")).toMatch(/cannot decide/);
      else expect(details.join("; ")).not.toMatch(/cannot decide/);
    });
  }

  it("verdicts follow from the breaks: a narrowing keeps FORWARD compatibility, a widening BACKWARD", () => {
    const verdict = (pair: Pair) => verdictOf(compareSchemas(pair.old, pair.new, noRefs, noRefs).map(classify));
    expect(verdict(pairs.find((p) => p.what === "enum [x, y] -> const x")!)).toBe(Verdict.Forward);
    expect(verdict(pairs.find((p) => p.what === "minimum 0 -> exclusiveMinimum 0")!)).toBe(Verdict.Forward);
    expect(verdict(pairs.find((p) => p.what === "anyOf gains a branch")!)).toBe(Verdict.Backward);
    expect(verdict(pairs.find((p) => p.what === "dependentRequired added")!)).toBe(Verdict.Forward);
  });
});
