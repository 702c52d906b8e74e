/**
 * Random schemas, random edits of them and random instances over one small vocabulary, for
 * the soundness property of `onex diff` (soundness.test.ts). The vocabulary is small on
 * purpose: property names, strings and numbers are drawn from a few values, so an instance
 * that tells an edited schema from its original (a witness) is likely to be drawn at all.
 */
import fc from "fast-check";
import type { JsonSchema } from "../../generator/model.js";

const NAMES = ["a", "b", "x1"] as const;
const PATTERNS = ["^x", "^a$", "1$"] as const;
const STRINGS = ["", "a", "ab", "x1", "xyz", "2026-01-01", "abcdef"] as const;
const NUMBERS = [-1, 0, 0.5, 1, 2, 3, 10] as const;
const TYPES = ["string", "integer", "number", "boolean", "null", "object", "array"] as const;

const name = fc.constantFrom(...NAMES);
const names = fc.uniqueArray(name, { maxLength: 3 });
const str = fc.constantFrom(...STRINGS);
const num = fc.constantFrom(...NUMBERS);
const small = fc.nat({ max: 3 });
const scalar: fc.Arbitrary<unknown> = fc.oneof(str, num, fc.boolean(), fc.constant(null));

/** Instances: scalars, and arrays and objects of them (nested once) over the same names. */
export const instance: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(name, tie("value"), { maxKeys: 3 }),
  ),
})).value;

/** A value for each keyword an edit may set, given a way to make subschemas. */
function keywordValue(keyword: string, schema: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  switch (keyword) {
    case "type":
      return fc.oneof(fc.constantFrom(...TYPES), fc.uniqueArray(fc.constantFrom(...TYPES), { minLength: 1, maxLength: 3 }));
    case "const":
      return scalar;
    case "enum":
      return fc.uniqueArray(scalar, { minLength: 1, maxLength: 3, selector: (v) => JSON.stringify(v) });
    case "minLength": case "maxLength": case "minItems": case "maxItems": case "minProperties": case "maxProperties": case "minContains": case "maxContains":
      return small;
    case "minimum": case "maximum": case "exclusiveMinimum": case "exclusiveMaximum":
      return num;
    case "multipleOf":
      return fc.constantFrom(0.5, 1, 2, 3);
    case "pattern":
      return fc.constantFrom(...PATTERNS);
    case "format":
      return fc.constantFrom("date", "uuid", "email");
    case "uniqueItems":
      return fc.boolean();
    case "required":
      return names;
    case "properties":
      return fc.dictionary(name, schema, { maxKeys: 2 });
    case "patternProperties":
      return fc.dictionary(fc.constantFrom(...PATTERNS), schema, { maxKeys: 1 });
    case "dependentRequired":
      return fc.dictionary(name, names, { maxKeys: 1 });
    case "dependentSchemas":
      return fc.dictionary(name, schema, { maxKeys: 1 });
    case "propertyNames":
      return fc.constantFrom({ pattern: "^x" }, { maxLength: 1 }, { enum: ["a", "b"] });
    case "prefixItems": case "allOf": case "anyOf": case "oneOf":
      return fc.array(schema, { minLength: 1, maxLength: 2 });
    default:
      // additionalProperties, items, contains, not, if, then, else, unevaluatedProperties, unevaluatedItems
      return schema;
  }
}

export const KEYWORDS = [
  "type", "const", "enum", "minLength", "maxLength", "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
  "multipleOf", "required", "properties", "additionalProperties", "patternProperties", "propertyNames", "dependentRequired",
  "dependentSchemas", "minProperties", "maxProperties", "items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains",
  "minContains", "maxContains", "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "unevaluatedProperties", "unevaluatedItems",
] as const;

/** Schemas of at most `depth` levels of subschemas, each with up to three keywords. */
export function schemaOf(depth: number): fc.Arbitrary<JsonSchema | boolean> {
  const sub: fc.Arbitrary<unknown> = depth === 0 ? fc.oneof(fc.boolean(), fc.constantFrom<JsonSchema>({ type: "string" }, { type: "integer" }, {})) : schemaOf(depth - 1);
  const keywords = depth === 0 ? KEYWORDS.filter((k) => !["properties", "patternProperties", "dependentSchemas", "prefixItems", "allOf", "anyOf", "oneOf"].includes(k)) : KEYWORDS;
  const entry = fc.constantFrom(...keywords).chain((k) => keywordValue(k, sub).map((v) => [k, v] as const));
  return fc.oneof(
    { weight: 1, arbitrary: fc.boolean() },
    { weight: 6, arbitrary: fc.array(entry, { maxLength: 3 }).map((entries) => Object.fromEntries(entries) as JsonSchema) },
  );
}

/** Where an edit can go: the schema itself, or a subschema reached through one keyword. */
function subschemaSlots(schema: JsonSchema): { get: () => unknown; set: (value: unknown) => void }[] {
  const slots: { get: () => unknown; set: (value: unknown) => void }[] = [];
  for (const keyword of ["additionalProperties", "items", "contains", "not", "if", "then", "else", "propertyNames", "unevaluatedProperties"]) {
    if (schema[keyword] !== undefined) slots.push({ get: () => schema[keyword], set: (v) => (schema[keyword] = v) });
  }
  for (const keyword of ["properties", "patternProperties", "dependentSchemas"]) {
    const map = schema[keyword] as Record<string, unknown> | undefined;
    for (const key of Object.keys(map ?? {})) slots.push({ get: () => map![key], set: (v) => (map![key] = v) });
  }
  for (const keyword of ["prefixItems", "allOf", "anyOf", "oneOf"]) {
    const list = schema[keyword] as unknown[] | undefined;
    if (Array.isArray(list)) list.forEach((_, i) => slots.push({ get: () => list[i], set: (v) => (list[i] = v) }));
  }
  return slots;
}

/** One edit: at the schema or a subschema (`path` picks which), set a keyword to a new value or delete it. */
export interface Edit {
  path: number[];
  keyword: (typeof KEYWORDS)[number];
  value: unknown;
  remove: boolean;
}

export const edit: fc.Arbitrary<Edit> = fc.record({
  path: fc.array(fc.nat({ max: 5 }), { maxLength: 2 }),
  keyword: fc.constantFrom(...KEYWORDS),
  value: fc.constantFrom(...KEYWORDS).chain(() => fc.constant(null)),
  remove: fc.boolean(),
}).chain((e) => keywordValue(e.keyword, schemaOf(1)).map((value) => ({ ...e, value })));

/** A copy of `schema` with `e` applied (a boolean schema met on the way becomes its object form first). */
export function applyEdit(schema: JsonSchema | boolean, e: Edit): JsonSchema | boolean {
  const root = { slot: structuredClone(schema) as unknown };
  let get = () => root.slot;
  let set = (v: unknown) => (root.slot = v);
  for (const step of e.path) {
    let node = get();
    if (typeof node === "boolean") set((node = node ? {} : { not: {} }));
    const slots = subschemaSlots(node as JsonSchema);
    if (slots.length === 0) break;
    const slot = slots[step % slots.length]!;
    get = slot.get;
    set = slot.set;
  }
  let node = get();
  if (typeof node === "boolean") set((node = node ? {} : { not: {} }));
  const target = node as JsonSchema;
  if (e.remove) delete target[e.keyword];
  else target[e.keyword] = e.value;
  return root.slot as JsonSchema | boolean;
}
