/**
 * Names for the types json-schema-to-typescript emits inside a named schema. That tool names
 * a nested object only from a `title` and numbers clashes (`Trust1`, `Point1`); onex instead
 * gives every local `$defs` entry and every nested object with properties a title made from
 * its path (`TaskDispatchPayload` + `retry` -> `TaskDispatchPayloadRetry`), so each becomes
 * one exported interface whose name changes only when its place in the schema does. It also
 * writes defaults, formats and bounds into the description, where they reach the doc comment.
 */
import { ErrorCode, OnexError } from "@onex/runtime";
import type { JsonSchema } from "./model.js";

/** A type name given to a nested schema, and where it came from (for clash reports). */
export interface NestedName {
  name: string;
  /** The named schema it lives in. */
  owner: string;
  /** JSON Pointer of the nested schema inside its owner. */
  pointer: string;
}

/** `retry_policy` / `retry-policy` / `retryPolicy` -> `RetryPolicy`. */
export function pascalFromKey(key: string): string {
  return key
    .split(/[^A-Za-z0-9]+/)
    .filter((part) => part !== "")
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join("");
}

/** Keywords whose values are data, not schemas: never walked. */
const DATA_KEYWORDS = new Set(["description", "default", "const", "enum", "examples", "pattern", "format", "required", "$comment", "$ref"]);

const NOTES: [keyword: string, label: string][] = [
  ["default", "@default"],
  ["format", "@format"],
  ["minimum", "@minimum"],
  ["exclusiveMinimum", "@exclusiveMinimum"],
  ["maximum", "@maximum"],
  ["exclusiveMaximum", "@exclusiveMaximum"],
  ["multipleOf", "@multipleOf"],
  ["minLength", "@minLength"],
  ["maxLength", "@maxLength"],
  ["pattern", "@pattern"],
  ["minProperties", "@minProperties"],
  ["maxProperties", "@maxProperties"],
  ["uniqueItems", "@uniqueItems"],
];

/**
 * Returns a copy of `schema` (the root named `owner`) with a path title on every local
 * `$defs` entry and nested object that has properties, and constraint notes appended to
 * descriptions; every title given is pushed onto `names`.
 */
export function nameNestedSchemas(schema: JsonSchema, owner: string, names: NestedName[]): JsonSchema {
  // `path` is the name the node would get; `titled` says whether it gets it.
  const visit = (node: unknown, path: string, titled: boolean, pointer: string): unknown => {
    if (Array.isArray(node)) return node.map((item, i) => visit(item, path, false, `${pointer}/${i}`));
    if (node === null || typeof node !== "object") return node;
    const source = node as JsonSchema;
    const out: JsonSchema = {};
    for (const [key, value] of Object.entries(source)) {
      const at = `${pointer}/${escapePointer(key)}`;
      if ((key === "properties" || key === "$defs" || key === "definitions") && isRecord(value)) {
        // Properties and $defs map names to schemas: each gets a name below its parent's.
        out[key] = Object.fromEntries(
          Object.entries(value).map(([name, child]) => [
            name,
            visit(child, `${path}${pascalFromKey(name)}`, key !== "properties" || hasProperties(child), `${at}/${escapePointer(name)}`),
          ]),
        );
      } else if (key === "items" && isRecord(value)) {
        out[key] = visit(value, `${path}Item`, hasProperties(value), at);
      } else if (key === "title") {
        // A title names a type in json-schema-to-typescript; only the path titles set here may.
        continue;
      } else if (DATA_KEYWORDS.has(key)) {
        out[key] = value;
      } else {
        out[key] = visit(value, path, false, at);
      }
    }
    if (titled && pointer !== "") {
      out.title = path;
      names.push({ name: path, owner, pointer });
    }
    const notes = NOTES.filter(([keyword]) => keyword in source).map(([keyword, label]) => `${label} ${noteValue(source[keyword])}`);
    if (notes.length > 0) out.description = [typeof source.description === "string" ? source.description : "", ...notes].filter((l) => l !== "").join("\n");
    return out;
  };
  return visit(schema, owner, false, "") as JsonSchema;
}

/** Throws ONEX_E_DUPLICATE_NAME when a path name equals a manifest name or another path name. */
export function checkNestedNames(names: readonly NestedName[], manifestNames: readonly string[]): void {
  const seen = new Map<string, string>(manifestNames.map((n) => [n, `the manifest name ${n}`]));
  for (const { name, owner, pointer } of names) {
    const where = `${owner}#${pointer}`;
    const earlier = seen.get(name);
    if (earlier !== undefined) {
      throw new OnexError(ErrorCode.DuplicateName, `the type of ${where} would be named ${name}, which is already ${earlier}; rename the property, the $defs entry or the manifest name`, { name, schema: owner, pointer });
    }
    seen.set(name, `the type of ${where}`);
  }
}

/** A string as written (a format, a pattern), anything else as JSON; never a comment's end. */
function noteValue(value: unknown): string {
  return (typeof value === "string" ? value : JSON.stringify(value)).replaceAll("*/", "*\\/");
}

function isRecord(value: unknown): value is JsonSchema {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function hasProperties(value: unknown): boolean {
  return isRecord(value) && isRecord(value.properties) && Object.keys(value.properties).length > 0;
}

function escapePointer(segment: string): string {
  return segment.replaceAll("~", "~0").replaceAll("/", "~1");
}
