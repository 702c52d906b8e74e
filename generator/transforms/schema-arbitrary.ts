/**
 * fast-check arbitraries derived from the JSON Schemas of a version model, so property tests
 * and `onex check` sample exactly the messages a schema allows. Covers the keywords onex
 * schemas use: type, const, enum, properties, required, additionalProperties, items,
 * min/maxItems, uniqueItems, min/maxLength, pattern, format (uuid, date-time, uri), dependentRequired,
 * minimum/maximum and `$ref` (in model form, `onex:<Name>#<pointer>`).
 */
import fc from "fast-check";
import { ErrorCode, OnexError } from "@onex/runtime";
import { pathValue } from "../load-version.js";
import type { JsonSchema, VersionModel } from "../model.js";
import { pointerSegments } from "../yaml-file.js";

/** Arbitraries that replace the derived one for a named schema (for example a biased `Residue`). */
export type ArbitraryOverrides = Record<string, fc.Arbitrary<unknown>>;

/** An arbitrary of values valid against the named schema of `model`. */
export function schemaArbitrary(model: VersionModel, name: string, overrides: ArbitraryOverrides = {}): fc.Arbitrary<unknown> {
  const byName = new Map(model.schemas.map((s) => [s.name, s.schema]));
  const cache = new Map<string, fc.Arbitrary<unknown>>();
  const resolve = (ref: string): fc.Arbitrary<unknown> => {
    const cached = cache.get(ref);
    if (cached) return cached;
    const match = /^onex:([A-Za-z0-9]+)(?:#(.*))?$/.exec(ref);
    const root = match ? byName.get(match[1]!) : undefined;
    if (!match || !root) throw new OnexError(ErrorCode.Internal, `schema arbitrary: cannot resolve $ref ${ref}`);
    if (!match[2] && overrides[match[1]!]) return overrides[match[1]!]!;
    const target = match[2] ? (pathValue(root, pointerSegments(match[2])) as JsonSchema) : root;
    const arbitrary = build(target);
    cache.set(ref, arbitrary);
    return arbitrary;
  };
  const build = (schema: JsonSchema): fc.Arbitrary<unknown> => {
    if (typeof schema.$ref === "string") return resolve(schema.$ref);
    if (Object.hasOwn(schema, "const")) return fc.constant(schema.const);
    if (Array.isArray(schema.enum)) {
      // Picked by index: spreading a large enum into constantFrom's arguments overflows the stack.
      const values = schema.enum as unknown[];
      return fc.nat({ max: values.length - 1 }).map((i) => values[i]);
    }
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : typeof schema.type === "string" ? [schema.type] : [];
    if (types.length > 1) return fc.oneof(...types.map((type) => build({ ...schema, type })));
    switch (types[0]) {
      case "string":
        return stringArbitrary(schema);
      case "integer":
        return fc.integer({ min: numberOr(schema.minimum, -1_000_000), max: numberOr(schema.maximum, 1_000_000) });
      case "number":
        return fc.double({ min: numberOr(schema.minimum, -1e6), max: numberOr(schema.maximum, 1e6), noNaN: true, noDefaultInfinity: true }).map((n) => (Object.is(n, -0) ? 0 : n));
      case "boolean":
        return fc.boolean();
      case "null":
        return fc.constant(null);
      case "array":
        return arrayArbitrary(schema, build);
      case "object":
        return objectArbitrary(schema, build);
      default:
        return jsonValue;
    }
  };
  return resolve(`onex:${name}`);
}

/** Property names that are safe in every JS object (no prototype setters). */
const key = fc.string({ minLength: 1, maxLength: 8 }).filter((k) => k !== "__proto__" && k !== "constructor");
const jsonValue: fc.Arbitrary<unknown> = fc
  .jsonValue({ maxDepth: 2 })
  .map((v) => JSON.parse(JSON.stringify(v)) as unknown) // -0 and friends as JSON would carry them
  .filter((v) => !JSON.stringify(v).includes('"__proto__"'));
/** Any JSON object: what an open `type: object` with no properties allows. */
export const anyJsonObject: fc.Arbitrary<Record<string, unknown>> = fc.dictionary(key, jsonValue, { maxKeys: 4 });

function numberOr(value: unknown, fallback: number): number {
  return typeof value === "number" ? value : fallback;
}

function stringArbitrary(schema: JsonSchema): fc.Arbitrary<string> {
  const minLength = numberOr(schema.minLength, 0);
  const maxLength = numberOr(schema.maxLength, Number.POSITIVE_INFINITY);
  // ajv counts code points (ucs2length), as does this check.
  const fits = (s: string) => [...s].length >= minLength && [...s].length <= maxLength;
  switch (schema.format) {
    case "uuid":
      return fc.uuid();
    case "date-time":
      return fc.date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date("2099-12-31T23:59:59Z"), noInvalidDate: true }).map((d) => d.toISOString());
    case "uri":
      return fc.webUrl();
  }
  if (typeof schema.pattern === "string") return matching(schema.pattern).filter(fits);
  return fc.string({ minLength, maxLength: Math.min(maxLength, minLength + 16), unit: "grapheme-composite" }).filter(fits);
}

/**
 * Strings matching `pattern`, one arbitrary per pattern for the process (arbitraries hold no
 * state; each run draws from its own seed). Building one is costly: fast-check prepares the
 * biased strings of every quantified part against its characters, and `onex check` builds a
 * version's arbitraries afresh for each of its type and direction pairs, so the same dozen
 * patterns took 0.44 of its 2.66 s.
 */
function matching(pattern: string): fc.Arbitrary<string> {
  let arbitrary = MATCHING.get(pattern);
  if (arbitrary === undefined) {
    arbitrary = fc.stringMatching(new RegExp(pattern));
    MATCHING.set(pattern, arbitrary);
  }
  return arbitrary;
}

const MATCHING = new Map<string, fc.Arbitrary<string>>();

function arrayArbitrary(schema: JsonSchema, build: (s: JsonSchema) => fc.Arbitrary<unknown>): fc.Arbitrary<unknown[]> {
  const items = schema.items && typeof schema.items === "object" ? build(schema.items as JsonSchema) : jsonValue;
  const minLength = numberOr(schema.minItems, 0);
  const maxLength = Math.min(numberOr(schema.maxItems, 4), minLength + 4);
  return schema.uniqueItems === true
    ? fc.uniqueArray(items, { minLength, maxLength, selector: (v) => JSON.stringify(v) })
    : fc.array(items, { minLength, maxLength });
}

function objectArbitrary(schema: JsonSchema, build: (s: JsonSchema) => fc.Arbitrary<unknown>): fc.Arbitrary<Record<string, unknown>> {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const names = Object.keys(properties);
  const additional = schema.additionalProperties;
  if (names.length === 0) {
    if (additional && typeof additional === "object") return fc.dictionary(key, build(additional as JsonSchema), { maxKeys: 4 });
    return additional === false ? fc.constant({}) : anyJsonObject;
  }
  const required = new Set((schema.required ?? []) as string[]);
  const dependent = (schema.dependentRequired ?? {}) as Record<string, string[]>;
  const record = fc
    .record(Object.fromEntries(names.map((n) => [n, build(properties[n]!)])), { requiredKeys: names.filter((n) => required.has(n)) })
    .map((value) => withDependencies(value as Record<string, unknown>, dependent));
  // onex schemas close every object that has properties; an open one gets a few extra keys.
  if (additional === false) return record as fc.Arbitrary<Record<string, unknown>>;
  const extra = additional && typeof additional === "object" ? build(additional as JsonSchema) : jsonValue;
  return fc
    .tuple(record, fc.dictionary(key.filter((k) => !names.includes(k)), extra, { maxKeys: 2 }))
    .map(([known, more]) => ({ ...more, ...(known as Record<string, unknown>) }));
}

/** Drops optional keys whose `dependentRequired` partners are missing, until none is. */
function withDependencies(value: Record<string, unknown>, dependent: Record<string, string[]>): Record<string, unknown> {
  const out = { ...value };
  for (let changed = true; changed; ) {
    changed = false;
    for (const [name, needs] of Object.entries(dependent)) {
      if (Object.hasOwn(out, name) && needs.some((n) => !Object.hasOwn(out, n))) {
        delete out[name];
        changed = true;
      }
    }
  }
  return out;
}

/**
 * A `Residue` arbitrary biased towards what transforms write: version keys, JSON Pointer
 * keys, values the lenses drop, `_prior` and `_keep`, so round-trip properties meet
 * messages that already carry residue (and entries that only look like it).
 */
export function residueArbitrary(versionKeys: readonly string[]): fc.Arbitrary<Record<string, Record<string, unknown>>> {
  const pointer = fc.constantFrom(
    "/payload/retry",
    "/payload/targets",
    "/payload/state",
    "/protocol",
    "/protocol_version",
    "/trust/level",
    "/payload/priority",
    "/payload/build",
    "/payload/build/version",
    "/payload/reason",
    "/payload/reason/code",
    "/payload/attestation",
    "/payload/capabilities",
  );
  const dropped = fc.oneof(
    jsonValue,
    fc.constantFrom<unknown>("degraded", "running", "busy", "verified", "basic", 0, 7, 9, [], ["a"], ["a", "b"], { max_attempts: 3 }, { max_attempts: 0 }, "unknown", "E42", {}),
  );
  const data = fc.dictionary(fc.oneof(pointer, key), dropped, { maxKeys: 3 });
  const entry = fc.oneof(
    data,
    data.map((d) => ({ ...d, _keep: true })),
    fc.tuple(data, data).map(([d, prior]) => ({ ...d, _prior: prior })),
    fc.tuple(data, data, data).map(([d, p, q]) => ({ ...d, _prior: { ...p, _prior: q } })),
    anyJsonObject,
  );
  return fc.dictionary(fc.oneof(fc.constantFrom(...versionKeys), key), entry, { maxKeys: 3 });
}
