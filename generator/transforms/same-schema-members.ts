/**
 * Which members of a message type two versions describe with the same schema. A migration
 * checks its output against the target version; a member it passes on unchanged from a
 * validated input, under the same schema, is valid already, so the check a step runs on its
 * output (generated/v<version>/step-output-checks.ts, by emitStepOutputChecks) leaves those members
 * out. The comparison follows `$ref`s, so a record shared by both versions compares by its
 * content, and ignores only annotations that never change what validates.
 */
import { schemaIdOf, type JsonSchema, type VersionModel } from "../model.js";
import { pathValue } from "../load-version.js";
import { pointerSegments } from "../yaml-file.js";

/** Keywords that describe a schema without changing what it accepts. */
const ANNOTATIONS = new Set(["description", "title", "$comment", "examples"]);

/** Keywords whose value is one schema. */
const SCHEMA = new Set(["items", "additionalItems", "additionalProperties", "unevaluatedItems", "unevaluatedProperties", "propertyNames", "contains", "not", "if", "then", "else"]);

/** Keywords whose value is a list of schemas. */
const SCHEMA_LIST = new Set(["allOf", "anyOf", "oneOf", "prefixItems"]);

/** Keywords whose value maps names (of members, of definitions) to schemas or to lists of names: every name counts, "description" too. */
const SCHEMA_MAP = new Set(["properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependentRequired", "dependencies"]);

/**
 * Keywords whose meaning depends on the dynamic scope: a message of a version that uses one
 * anywhere gets no output check, as its check schema would itself become that scope.
 */
const DYNAMIC = /"\$(dynamicRef|dynamicAnchor|recursiveRef|recursiveAnchor)"/;

/**
 * The member every step writes itself when it drops or restores data (runtime/transform.ts):
 * passed on unchanged by few steps, and cheap to check, so it is always checked.
 */
const RESIDUE_MEMBER = "_residue";

/** Top-level members of message `aName` in `a` and `bName` in `b` whose schemas accept exactly the same values, in `a`'s order. */
export function sameSchemaMembers(a: VersionModel, aName: string, b: VersionModel, bName: string): string[] {
  if (usesDynamicScope(a) || usesDynamicScope(b)) return [];
  const aProperties = messageProperties(a, aName);
  const bProperties = messageProperties(b, bName);
  return Object.keys(aProperties).filter(
    (member) => member !== RESIDUE_MEMBER && !namesSchema(member) && Object.hasOwn(bProperties, member) && new Comparison(a, b).same(aProperties[member], bProperties[member]),
  );
}

/** Whether any schema of `model` uses a DYNAMIC keyword: read once per model, not once per message type. */
function usesDynamicScope(model: VersionModel): boolean {
  let uses = dynamicScope.get(model);
  if (uses === undefined) dynamicScope.set(model, (uses = DYNAMIC.test(JSON.stringify(model.schemas.map((s) => s.schema)))));
  return uses;
}

const dynamicScope = new WeakMap<VersionModel, boolean>();

/** The message's schema with the members `unchanged` left unchecked: what a step still checks of its output. */
export function outputCheckSchema(model: VersionModel, name: string, unchanged: readonly string[]): JsonSchema {
  const schema = messageSchema(model, name);
  const properties = { ...(schema.properties as Record<string, unknown>) };
  for (const member of unchanged) properties[member] = true;
  return { ...schema, properties };
}

/** The schema id of that check, from version `from`: the message's own id, suffixed. */
export function outputCheckId(model: VersionModel, name: string, from: string): string {
  return schemaIdOf(model, name).replace(/\.json$/, `.from-v${from}.json`);
}

function messageSchema(model: VersionModel, name: string): JsonSchema {
  return model.schemas.find((s) => s.name === name && s.kind === "message")!.schema;
}

function messageProperties(model: VersionModel, name: string): Record<string, unknown> {
  return (messageSchema(model, name).properties as Record<string, unknown> | undefined) ?? {};
}

/** One comparison of two subschemas, each read in its own version. */
class Comparison {
  /**
   * Reference pairs compared or being compared. Met again inside themselves (a recursive
   * schema), a pair is taken as the same: a recursion that finds no difference is none. Met
   * again after, it is not compared twice (a record reached by many paths would cost time
   * exponential in their depth): every comparison is a conjunction, so a pair found different
   * has already made the whole comparison false.
   */
  readonly #seen = new Set<string>();

  constructor(
    private readonly a: VersionModel,
    private readonly b: VersionModel,
  ) {}

  /**
   * Whether two schemas accept the same values: keyword by keyword, annotations aside, `$ref`
   * by what it points at, subschemas as schemas, anything else (`const`, `enum`, `pattern`,
   * `required`, a keyword not listed above) exactly as written. Text naming a schema outside
   * a `$ref` is never the same: the generator rewrites it into each version's own schema id.
   */
  same(x: unknown, y: unknown): boolean {
    if (typeof x === "boolean" || typeof y === "boolean") return x === y;
    if (!isObject(x) || !isObject(y)) return false;
    const xKeys = Object.keys(x).filter((key) => !ANNOTATIONS.has(key)).sort();
    const yKeys = Object.keys(y).filter((key) => !ANNOTATIONS.has(key)).sort();
    if (xKeys.length !== yKeys.length || xKeys.some((key, i) => key !== yKeys[i])) return false;
    return xKeys.every((key) => {
      const xValue = x[key];
      const yValue = y[key];
      if (key === "$ref") return this.#sameTarget(xValue, yValue);
      if (SCHEMA.has(key)) return this.same(xValue, yValue);
      if (SCHEMA_LIST.has(key)) return Array.isArray(xValue) && Array.isArray(yValue) && xValue.length === yValue.length && xValue.every((item, i) => this.same(item, yValue[i]));
      if (SCHEMA_MAP.has(key)) return this.#sameMap(xValue, yValue);
      return sameText(xValue, yValue);
    });
  }

  /** Name -> schema maps (`dependentRequired` and `dependencies` may map to lists of names, compared as written). */
  #sameMap(x: unknown, y: unknown): boolean {
    if (!isObject(x) || !isObject(y)) return false;
    const xNames = Object.keys(x).sort();
    const yNames = Object.keys(y).sort();
    if (xNames.length !== yNames.length) return false;
    return xNames.every((name, i) => name === yNames[i] && !namesSchema(name) && (Array.isArray(x[name]) ? sameText(x[name], y[name]) : this.same(x[name], y[name])));
  }

  #sameTarget(xRef: unknown, yRef: unknown): boolean {
    if (typeof xRef !== "string" || typeof yRef !== "string") return false;
    const pair = `${xRef}\0${yRef}`;
    if (this.#seen.has(pair)) return true;
    const x = resolve(this.a, xRef);
    const y = resolve(this.b, yRef);
    if (x === undefined || y === undefined) return false;
    this.#seen.add(pair);
    return this.same(x, y);
  }
}

/** Whether a member's name holds text the generator would rewrite into a version's schema id (in any version, the name then differs). */
function namesSchema(name: string): boolean {
  return name.includes("onex:");
}

function isObject(value: unknown): value is JsonSchema {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The same JSON as written, holding no text the generator would rewrite into a version's schema id. */
function sameText(x: unknown, y: unknown): boolean {
  const text = JSON.stringify(x);
  return text === JSON.stringify(y) && !text.includes("onex:");
}

/** What a model-form `$ref` (`onex:Name` or `onex:Name#/pointer`) points at in `model`. */
function resolve(model: VersionModel, ref: string): unknown {
  const match = /^onex:([A-Za-z0-9]+)(?:#(.*))?$/.exec(ref);
  if (!match) return undefined;
  const named = model.schemas.find((s) => s.name === match[1]);
  return named === undefined ? undefined : pathValue(named.schema, pointerSegments(match[2] ?? ""));
}
