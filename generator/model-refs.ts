/**
 * The `$ref`s of a model schema (`onex:Name#pointer`), found by where they are rather than by
 * what they look like: a string of instance data that reads `onex:Address` (a `const`, an
 * `enum` value, a default) is data the message carries, and must reach the validator and the
 * type as written.
 */
import type { JsonSchema } from "./model.js";

/** Keywords whose value is instance data, never a schema: a `$ref` inside it is data too. */
export const DATA_KEYWORDS = new Set(["const", "enum", "default", "examples"]);
/** Keywords whose value maps names to schemas: a name there is never a keyword. */
export const NAMED_SCHEMA_KEYWORDS = new Set(["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"]);

/** A deep copy of `schema` with every `$ref` at a schema position replaced by `map(ref)`; everything else as it was. */
export function mapSchemaRefs(schema: JsonSchema, map: (ref: string) => string): JsonSchema {
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (node === null || typeof node !== "object") return node;
    const out: JsonSchema = {};
    for (const [key, value] of Object.entries(node as JsonSchema)) {
      let mapped: unknown;
      if (key === "$ref" && typeof value === "string") mapped = map(value);
      else if (DATA_KEYWORDS.has(key)) mapped = JSON.parse(JSON.stringify(value)) as unknown;
      else if (NAMED_SCHEMA_KEYWORDS.has(key) && value !== null && typeof value === "object" && !Array.isArray(value)) {
        mapped = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, walk(sub)]));
      } else mapped = walk(value);
      // A member named __proto__ (data of an open object) stays a member, not the copy's prototype.
      Object.defineProperty(out, key, { value: mapped, writable: true, enumerable: true, configurable: true });
    }
    return out;
  };
  return walk(schema) as JsonSchema;
}
