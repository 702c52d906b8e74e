/**
 * A message is JSON data its schema accepts: what `parse()` keeps (runtime/message.ts,
 * copyMessageData) and what signing can encode. ajv's own checks hold to that wherever a
 * schema names a type (its "number" refuses NaN and ±Infinity under `strictNumbers`, which
 * createAjv's strict mode sets; its "string" anything but a string), but not where the schema leaves a value free: `{}` or `true`, an object's members
 * no `properties` names, an array without `items`, and any object, where ajv takes a `Date`,
 * `Map` or class instance for one. There a validator would accept what `parse()` refuses and
 * signing cannot encode, and `is()` would narrow such a value to a message.
 *
 * So the schema each validator is compiled from gets an `onexJson` keyword, at generation
 * time, on the subschemas that leave something free, saying what: the generated code checks
 * those parts alone (runtime/ajv-runtime.ts, JsonDataChecks), never the whole message again.
 * The keyword only refuses what is not JSON data, so on JSON data every validator answers as
 * it did. Only the code is annotated: the schemas onex publishes are not changed.
 *
 * Why checking those parts is enough: a subschema accepts a value only if the value is JSON
 * data, by induction over the subschemas. One with a `type` refuses, by that type, every
 * value but a string (checked for a lone surrogate unless an `enum` or `const` fixes it), a
 * finite number, a boolean, null, an array or an object; of an array or object it checks
 * itself the elements or members no subschema judges, and each of the others is judged by one
 * that must accept it. One without a `type` either checks its value whole, or passes it on to
 * subschemas one of which must accept it (`$ref`, `allOf`, `anyOf`, `oneOf`) or compares it
 * with JSON (`const`, `enum`). `not`, `if`, `contains` and `propertyNames` accept nothing
 * on their own and are left as they are: the keyword inside `not` would turn around.
 */
import { _, Name, stringify, type Ajv2020, type KeywordCxt } from "ajv/dist/2020.js";
import names from "ajv/dist/compile/names.js";
import { commonJsDefault } from "@onex/runtime";
import type { JsonSchema } from "./model.js";

/** What of the value at a subschema the generated code checks, by keyword. */
interface JsonCheck {
  /** The whole value, whatever it is. */
  onexJson?: true;
  /** A string holds no lone surrogate (checked after ajv's `type`, on a string only). */
  onexJsonString?: true;
  /** An object is plain; "keys": its member names are well-formed; a list: the members it does not name are JSON data. */
  onexJsonObject?: "plain" | "keys" | string[];
  /** An array's elements from this index on are JSON data. */
  onexJsonItems?: number;
}

const KEYWORD = "onexJson";

/** Subschemas that apply to the value itself, or to its members, and must accept for it to pass. */
const SCHEMA_MAPS = ["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"] as const;
const SCHEMA_ONE = ["additionalProperties", "items", "unevaluatedProperties", "unevaluatedItems", "then", "else"] as const;
const SCHEMA_LISTS = ["prefixItems", "allOf", "anyOf", "oneOf"] as const;
/** Without a `type`, a subschema with one of these hands its value to subschemas that check it, or compares it with JSON. */
const PASSES_ON = ["$ref", "$dynamicRef", "const", "enum", "allOf", "anyOf", "oneOf"] as const;

/** A `true` subschema (or `{}`) where a value must be accepted: it accepts only JSON data now. */
const FREE: JsonSchema = { [KEYWORD]: true };

/** `schema` (a named schema, refs already resolved to ids) with the `onexJson` keyword where it leaves a value free. */
export function withJsonChecks(schema: JsonSchema): JsonSchema {
  return annotate(schema) as JsonSchema;
}

function annotate(node: unknown): unknown {
  if (node === true) return FREE;
  if (node === null || typeof node !== "object" || Array.isArray(node)) return node;
  const schema = node as Record<string, unknown>;
  const out: Record<string, unknown> = { ...schema };
  for (const key of SCHEMA_MAPS) {
    const map = schema[key];
    if (map !== null && typeof map === "object" && !Array.isArray(map)) {
      out[key] = Object.fromEntries(Object.entries(map).map(([name, sub]) => [name, annotate(sub)]));
    }
  }
  for (const key of SCHEMA_ONE) {
    // additionalProperties: true is as if left out: the check below takes those members.
    if (schema[key] !== undefined && !(key === "additionalProperties" && schema[key] === true)) out[key] = annotate(schema[key]);
  }
  for (const key of SCHEMA_LISTS) {
    if (Array.isArray(schema[key])) out[key] = (schema[key] as unknown[]).map(annotate);
  }
  return { ...out, ...checkOf(schema) };
}

function checkOf(schema: Record<string, unknown>): JsonCheck {
  const types = typeof schema.type === "string" ? [schema.type] : Array.isArray(schema.type) ? (schema.type as string[]) : undefined;
  if (types === undefined) return PASSES_ON.some((key) => schema[key] !== undefined) ? {} : { onexJson: true };
  // A value equal to a const or enum member is JSON: ajv's `equal` tells a plain object from any other.
  if (schema.const !== undefined || schema.enum !== undefined) return {};
  const check: JsonCheck = {};
  if (types.includes("string") && !asciiOnly(schema)) check.onexJsonString = true;
  if (types.includes("object")) {
    const additional = schema.additionalProperties;
    const patterns = schema.patternProperties !== undefined && Object.keys(schema.patternProperties as object).length > 0;
    if (additional === undefined || additional === true) check.onexJsonObject = Object.keys((schema.properties as object | undefined) ?? {});
    else if (additional === false && !patterns) check.onexJsonObject = "plain";
    else check.onexJsonObject = "keys";
  }
  if (types.includes("array") && schema.items === undefined) {
    check.onexJsonItems = Array.isArray(schema.prefixItems) ? schema.prefixItems.length : 0;
  }
  return check;
}

/** Formats of ajv-formats whose check takes ASCII text alone (onex's "date-time" and "uri" answer as ajv-formats does). */
const ASCII_FORMATS = new Set(["date-time", "date", "time", "uuid", "uri", "hostname", "ipv4", "ipv6", "duration", "byte"]);

/**
 * Whether the string schema's `format` or `pattern` already refuses any string with a character
 * beyond ASCII, a lone surrogate among them, so the check need not be made: a format of
 * ASCII_FORMATS, or a pattern anchored at both ends, without alternation, whose every atom is
 * an ASCII character, an escaped one, `\d`, `\w` or `\s` (which match no surrogate), or a class of
 * those (not negated). Anything else, `.` included, is checked.
 */
function asciiOnly(schema: Record<string, unknown>): boolean {
  if (typeof schema.format === "string" && ASCII_FORMATS.has(schema.format)) return true;
  return typeof schema.pattern === "string" && asciiOnlyPattern(schema.pattern);
}

function asciiOnlyPattern(pattern: string): boolean {
  if (!pattern.startsWith("^") || !pattern.endsWith("$")) return false;
  let inClass = false;
  let i = 1;
  for (; i < pattern.length - 1; i++) {
    const c = pattern[i]!;
    if (c === "\\") {
      if (!/^[dws.\-\\/^$*+?()[\]{}|]$/.test(pattern[++i] ?? "")) return false;
    } else if (c < " " || c > "~") return false;
    else if (inClass) inClass = c !== "]";
    else if (c === "[") {
      if (pattern[i + 1] === "^") return false;
      inClass = true;
    } else if (c === "." || c === "|" || c === "^" || c === "$") return false;
  }
  // The last "$" is the anchor, not an escaped character the loop took.
  return !inClass && i === pattern.length - 1;
}

const RUNTIME = new Name("ajvRuntime");
const N = commonJsDefault(names);
/** Where the value is in the message (the checks count nesting from its root): the function's instance path and the levels below it. */
const at = (cxt: KeywordCxt) => _`${N.instancePath}, ${cxt.it.dataLevel}`;
/** Stands for the runtime's `jsonDataKnown` while compiling: the emitted code reads the real one. */
const KNOWN_REF = { now: false };

/** Registers the `onexJson` keywords with `ajv`: the generated code calls the runtime's JSON-data checks. */
export function addJsonCheckKeyword(ajv: Ajv2020): void {
  const error = { message: "must be JSON data (not a Date, Map or other class instance, NaN, a function, undefined in an array or a lone surrogate)" };
  // The runtime's flag that the data validated is JSON by construction (parse(), publish): then no check need run.
  const known = (cxt: KeywordCxt) => cxt.gen.scopeValue("obj", { key: "jsonDataKnown", ref: KNOWN_REF, code: _`${RUNTIME}.jsonDataKnown` });
  ajv.addKeyword({ keyword: "onexJson", schemaType: "boolean", error, code: (cxt: KeywordCxt) => cxt.fail(_`!${RUNTIME}.jsonData(${cxt.data}, ${at(cxt)})`) });
  // The typed checks are ajv's keywords of their type: they run only on a value of it, after the `type` check.
  ajv.addKeyword({ keyword: "onexJsonString", type: "string", schemaType: "boolean", error, code: (cxt: KeywordCxt) => cxt.fail(_`!(${known(cxt)}.now || ${cxt.data}.isWellFormed())`) });
  ajv.addKeyword({
    keyword: "onexJsonObject",
    type: "object",
    schemaType: ["string", "array"],
    error,
    code(cxt: KeywordCxt) {
      const data = cxt.data;
      const how = cxt.schema as "plain" | "keys" | string[];
      // The usual object is checked inline; one of another prototype asks the runtime (a null prototype, a generated message).
      const plain = _`(${known(cxt)}.now || Object.getPrototypeOf(${data}) === Object.prototype || ${RUNTIME}.plainObject(${data}))`;
      if (how === "plain") cxt.fail(_`!${plain}`);
      else if (how === "keys") cxt.fail(_`!${RUNTIME}.jsonKeys(${data})`);
      else cxt.fail(_`!${plain} || !${RUNTIME}.jsonMembers(${data}, ${cxt.gen.scopeValue("obj", { ref: how, code: stringify(how) })}, ${at(cxt)})`);
    },
  });
  ajv.addKeyword({ keyword: "onexJsonItems", type: "array", schemaType: "number", error, code: (cxt: KeywordCxt) => cxt.fail(_`!${RUNTIME}.jsonItems(${cxt.data}, ${cxt.schema as number}, ${at(cxt)})`) });
}
