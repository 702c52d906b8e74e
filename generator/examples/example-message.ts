/**
 * One readable, valid example message per message type, derived from the version model
 * alone (the AsyncAPI document and the reference site show it). Deterministic: the same
 * model always gives the same example, on every machine.
 *
 * Values come, in order of preference, from `const`, `enum`, `default`, `examples`, the
 * manifest's `auto` fields (the protocol block and version `create()` would fill in), the
 * format, then a value named after the field. Patterns are met by plain words and then a
 * bounded number of fast-check samples under a fixed seed, each stretched or cut to the
 * length limits. Only required properties are filled, so `dependentRequired` and the like
 * never come into play; callers validate the result. A field no example can be found for
 * is refused with ONEX_E_ASYNCAPI_UNSUPPORTED naming it: its author can give it `examples`.
 */
import fc from "fast-check";
import { ErrorCode, OnexError } from "@onex/runtime";
import { pathValue } from "../load-version.js";
import { schemasByNameOf, type JsonSchema, type VersionModel } from "../model.js";
import { pointerSegments } from "../yaml-file.js";

/** Fixed seed for pattern samples: examples must not change between runs. */
const PATTERN_SEED = 20250601;
const EXAMPLE_TIME = "2025-06-01T12:00:00Z";
const EXAMPLE_EXPIRY = "2025-06-02T12:00:00Z";
/** A zone id with dots, so the worked subject example shows the token encoding at work. */
const EXAMPLE_ZONE = "zone.trusted.org";

/** The example of message `name` (a message schema of `model`); `index` varies its id. */
export function exampleMessage(model: VersionModel, name: string, index = 0): Record<string, unknown> {
  const byName = schemasByNameOf(model);
  const root = byName.get(name)?.schema;
  if (!root) throw new OnexError(ErrorCode.Internal, `example: no schema named ${name} in v${model.version}`);
  const protocolBlock = {
    version: model.version,
    compatible_with: model.compatibleWith,
    declared_by: model.declaredBy,
    schema_manifest_url: model.schemaManifestUrl,
  };
  const autoValue = (field: string): unknown => {
    switch (model.auto[field]) {
      case "uuid":
        return `7f1c2e4a-0b5d-4c8e-9a61-${String(100000000000 + index).slice(-12)}`;
      case "now":
        return EXAMPLE_TIME;
      case "protocol":
        return protocolBlock;
      case "version":
        return model.version;
      default:
        return undefined;
    }
  };
  const resolve = (ref: string): JsonSchema => {
    const match = /^onex:([^#]+)(?:#(.*))?$/.exec(ref);
    const target = match ? byName.get(match[1]!)?.schema : undefined;
    const node = target && match?.[2] ? pathValue(target, pointerSegments(match[2])) : target;
    if (!node || typeof node !== "object") throw new OnexError(ErrorCode.Internal, `example: cannot resolve $ref ${ref}`);
    return node as JsonSchema;
  };

  /** `refs`: the references being expanded on the way here; one met again is a schema requiring itself. */
  const build = (schema: JsonSchema, field: string, refs: readonly string[]): unknown => {
    if (typeof schema.$ref === "string") {
      if (refs.includes(schema.$ref) || refs.length >= MAX_REF_DEPTH) {
        throw new OnexError(
          ErrorCode.AsyncApiUnsupported,
          `example of ${name}: field "${field}" requires ${refs.includes(schema.$ref) ? `${schema.$ref.slice(5)} again inside itself, so no finite message has it` : `more than ${MAX_REF_DEPTH} nested references`}; give the field an \`examples\` value, or make the recursion optional`,
          { message: name, field },
        );
      }
      return build({ ...resolve(schema.$ref), ...withoutRef(schema) }, field, [...refs, schema.$ref]);
    }
    if (Object.hasOwn(schema, "const")) return schema.const;
    if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
    if (Object.hasOwn(schema, "default")) return schema.default;
    if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[0];
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : typeof schema.type === "string" ? [schema.type] : [];
    const type = types.find((t) => t !== "null") ?? types[0] ?? (schema.properties ? "object" : schema.items ? "array" : "string");
    switch (type) {
      case "object": {
        const out: Record<string, unknown> = {};
        const properties = (schema.properties as Record<string, JsonSchema> | undefined) ?? {};
        for (const key of (schema.required as string[] | undefined) ?? []) {
          const sub = properties[key];
          if (sub) out[key] = build(sub, key, refs);
        }
        return out;
      }
      case "array": {
        const count = Math.max(1, Number(schema.minItems ?? 0));
        const items = (schema.items as JsonSchema | undefined) ?? {};
        return Array.from({ length: count }, (_, i) => {
          const value = build(items, field, refs);
          return typeof value === "string" && i > 0 && schema.uniqueItems ? `${value}-${i + 1}` : value;
        });
      }
      case "integer":
      case "number": {
        const min = typeof schema.minimum === "number" ? schema.minimum : typeof schema.exclusiveMinimum === "number" ? schema.exclusiveMinimum + 1 : undefined;
        const max = typeof schema.maximum === "number" ? schema.maximum : undefined;
        const value = min ?? (max !== undefined ? Math.min(max, 1) : 1);
        return type === "integer" ? Math.ceil(value) : value;
      }
      case "boolean":
        return true;
      case "null":
        return null;
      default:
        return exampleString(schema, field, name);
    }
  };

  const message = build(root, "", []) as Record<string, unknown>;
  // Fields the manifest marks `auto` get what create() would put there.
  for (const field of Object.keys(model.auto)) {
    const value = autoValue(field);
    if (value !== undefined && Object.hasOwn(message, field)) message[field] = value;
  }
  return message;
}

function withoutRef(schema: JsonSchema): JsonSchema {
  const { $ref: _ref, ...rest } = schema;
  return rest;
}

/** A string for `field` (of message `message`) that meets the schema's format, pattern and length. */
function exampleString(schema: JsonSchema, field: string, message: string): string {
  const format = typeof schema.format === "string" ? schema.format : undefined;
  // JSON Schema patterns are ECMA-262 regular expressions read with the `u` flag (as Ajv reads them).
  const pattern = typeof schema.pattern === "string" ? new RegExp(schema.pattern, "u") : undefined;
  const minLength = typeof schema.minLength === "number" ? schema.minLength : 0;
  const maxLength = typeof schema.maxLength === "number" ? schema.maxLength : Infinity;
  const fits = (s: string) => [...s].length >= minLength && [...s].length <= maxLength && (!pattern || pattern.test(s));

  const candidates: string[] = [];
  if (format === "uuid") candidates.push("7f1c2e4a-0b5d-4c8e-9a61-200000000000");
  if (format === "date-time") candidates.push(/expir|until|deadline|not_after/.test(field) ? EXAMPLE_EXPIRY : EXAMPLE_TIME);
  if (format === "date") candidates.push(EXAMPLE_TIME.slice(0, 10));
  if (format === "uri" || format === "uri-reference" || format === "iri") candidates.push(`https://example.org/${field.replaceAll("_", "-") || "resource"}`);
  if (format === "email") candidates.push("ops@example.org");
  if (format === "hostname") candidates.push("node-7.example.org");
  if (format === "ipv4") candidates.push("192.0.2.7");
  if (/zone/.test(field)) candidates.push(EXAMPLE_ZONE);
  const named = `${field.replaceAll("_", "-") || "value"}-1`;
  candidates.push(named);
  for (const candidate of candidates) if (fits(candidate)) return candidate;
  if (!pattern) {
    const padded = named.length < minLength ? named.padEnd(minLength, "x") : named;
    return [...padded].slice(0, maxLength).join("");
  }
  // Plain words first (readable, and they meet most patterns), then samples of the pattern.
  // Every step is bounded: a filter that retries until a sample fits never ends when none can.
  for (const word of [...candidates, ...PLAIN_WORDS, ...patternSamples(schema.pattern as string)]) {
    for (const candidate of [word, fitLength(word, minLength, maxLength)]) if (candidate !== undefined && fits(candidate)) return candidate;
  }
  const limits = [minLength > 0 ? `minLength ${minLength}` : "", maxLength < Infinity ? `maxLength ${maxLength}` : ""].filter(Boolean);
  throw new OnexError(
    ErrorCode.AsyncApiUnsupported,
    `example of ${message}: onex found no string for field "${field}" that matches pattern ${JSON.stringify(schema.pattern)}${limits.length > 0 ? ` with ${limits.join(" and ")}` : ""}; give the field an \`examples\` value`,
    { message, field, pattern: schema.pattern },
  );
}

/** Words tried against a pattern before sampling it. */
const PLAIN_WORDS = ["example", "Example", "EXAMPLE", "a", "A", "1", "a1", "x-1"];
/** How many samples of a pattern are tried: enough for the patterns schemas use, bounded for the rest. */
const PATTERN_SAMPLES = 64;
/** References followed inside one example before it is refused (the stack would overflow long after). */
const MAX_REF_DEPTH = 1000;

/** Samples by pattern: they are drawn with a fixed seed, and a manifest of thousands of types repeats a few patterns (ids, hashes) in every one, each sampling costing milliseconds. */
const samplesOf = new Map<string, readonly string[]>();

/** Up to PATTERN_SAMPLES strings matching `pattern`; none when fast-check cannot read it (lookarounds, backreferences). */
function patternSamples(pattern: string): readonly string[] {
  let samples = samplesOf.get(pattern);
  if (samples === undefined) {
    try {
      samples = fc.sample(fc.stringMatching(new RegExp(pattern, "u"), { size: "small" }), { seed: PATTERN_SEED, numRuns: PATTERN_SAMPLES });
    } catch {
      samples = [];
    }
    samplesOf.set(pattern, samples);
  }
  return samples;
}

/** `word` repeated up to `min` characters or cut to `max`; undefined when it is empty and `min` is not. */
function fitLength(word: string, min: number, max: number): string | undefined {
  let chars = [...word];
  if (chars.length === 0) return min === 0 ? "" : undefined;
  while (chars.length < min) chars = [...chars, ...chars];
  return chars.slice(0, Math.max(min, Math.min(chars.length, max))).join("");
}
