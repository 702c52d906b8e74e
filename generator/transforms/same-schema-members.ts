/**
 * Which members of a message type two versions describe with the same schema. A migration
 * checks its output against the target version; a member it passes on unchanged from a
 * validated input, under the same schema, is valid already, so the check a step runs on its
 * output (emitted as `stepOutputChecks` in the target's validators.ts) leaves those members
 * out. The comparison follows `$ref`s, so a record shared by both versions compares by its
 * content, and ignores only annotations that never change what validates.
 */
import { schemaIdOf, type JsonSchema, type VersionModel } from "../model.js";
import { pathValue } from "../load-version.js";
import { pointerSegments } from "../yaml-file.js";

/** Keywords that describe a schema without changing what it accepts. */
const ANNOTATIONS = new Set(["description", "title", "$comment", "examples"]);

/** Keywords whose value is data, compared as written: a `$ref` inside a `const` is not a reference. */
const DATA = new Set(["const", "enum", "default"]);

/** Keywords whose value maps names (of members, of definitions) to schemas: every name counts, "description" too. */
const NAME_MAPS = new Set(["properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependentRequired"]);

/**
 * Keywords whose meaning depends on more than the schema they are in (the dynamic scope, a
 * base URI): a subschema using one is never taken as the same, whatever it reads like.
 */
const CONTEXTUAL = new Set(["$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor", "$anchor", "$id"]);

/**
 * The member every step writes itself when it drops or restores data (runtime/transform.ts):
 * passed on unchanged by few steps, and cheap to check, so it is always checked.
 */
const RESIDUE_MEMBER = "_residue";

/** Top-level members of message `aName` in `a` and `bName` in `b` whose schemas accept exactly the same values, in `a`'s order. */
export function sameSchemaMembers(a: VersionModel, aName: string, b: VersionModel, bName: string): string[] {
  const aProperties = messageProperties(a, aName);
  const bProperties = messageProperties(b, bName);
  return Object.keys(aProperties).filter(
    (member) => member !== RESIDUE_MEMBER && Object.hasOwn(bProperties, member) && new Comparison(a, b).same(aProperties[member], bProperties[member]),
  );
}

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
  /** Reference pairs being compared: met again inside themselves (a recursive schema), they are taken as the same, as a recursion that finds no difference is none. */
  readonly #open = new Set<string>();

  constructor(
    private readonly a: VersionModel,
    private readonly b: VersionModel,
  ) {}

  same(x: unknown, y: unknown): boolean {
    if (x === null || y === null || typeof x !== "object" || typeof y !== "object") return x === y;
    if (Array.isArray(x) || Array.isArray(y)) {
      return Array.isArray(x) && Array.isArray(y) && x.length === y.length && x.every((item, i) => this.same(item, y[i]));
    }
    const xKeys = schemaKeys(x as JsonSchema);
    const yKeys = schemaKeys(y as JsonSchema);
    if (xKeys === undefined || yKeys === undefined || xKeys.length !== yKeys.length || xKeys.some((key, i) => key !== yKeys[i])) return false;
    return xKeys.every((key) => {
      const xValue = (x as JsonSchema)[key];
      const yValue = (y as JsonSchema)[key];
      if (key === "$ref") return this.#sameTarget(xValue, yValue);
      if (DATA.has(key)) return JSON.stringify(xValue) === JSON.stringify(yValue);
      if (NAME_MAPS.has(key)) return this.#sameMap(xValue, yValue);
      return this.same(xValue, yValue);
    });
  }

  #sameMap(x: unknown, y: unknown): boolean {
    if (x === null || y === null || typeof x !== "object" || typeof y !== "object" || Array.isArray(x) || Array.isArray(y)) return this.same(x, y);
    const xNames = Object.keys(x).sort();
    const yNames = Object.keys(y).sort();
    return xNames.length === yNames.length && xNames.every((name, i) => name === yNames[i] && this.same((x as JsonSchema)[name], (y as JsonSchema)[name]));
  }

  #sameTarget(xRef: unknown, yRef: unknown): boolean {
    if (typeof xRef !== "string" || typeof yRef !== "string") return false;
    const pair = `${xRef}\0${yRef}`;
    if (this.#open.has(pair)) return true;
    const x = resolve(this.a, xRef);
    const y = resolve(this.b, yRef);
    if (x === undefined || y === undefined) return false;
    this.#open.add(pair);
    try {
      return this.same(x, y);
    } finally {
      this.#open.delete(pair);
    }
  }
}

/** A schema object's keywords that matter, sorted; undefined when one makes it contextual. */
function schemaKeys(schema: JsonSchema): string[] | undefined {
  const keys = Object.keys(schema).filter((key) => !ANNOTATIONS.has(key));
  return keys.some((key) => CONTEXTUAL.has(key)) ? undefined : keys.sort();
}

/** What a model-form `$ref` (`onex:Name` or `onex:Name#/pointer`) points at in `model`. */
function resolve(model: VersionModel, ref: string): unknown {
  const match = /^onex:([A-Za-z0-9]+)(?:#(.*))?$/.exec(ref);
  if (!match) return undefined;
  const named = model.schemas.find((s) => s.name === match[1]);
  return named === undefined ? undefined : pathValue(named.schema, pointerSegments(match[2] ?? ""));
}
