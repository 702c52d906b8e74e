/**
 * Walking an old and a new JSON Schema side by side and listing what changed, as
 * SchemaChanges the rules in classify.ts can judge. Works on resolved model schemas: a
 * `$ref` (`onex:<Name>#ptr`) is followed through the side's own resolver, so a record
 * changed in the new version shows up under every message path that reaches it.
 */
import type { JsonSchema, VersionModel } from "../model.js";
import { pointerSegments } from "../yaml-file.js";
import { ContentModel, classify, type SchemaChange } from "./classify.js";

/** Turns a model-form `$ref` into the schema it names. */
export type RefResolver = (ref: string) => JsonSchema;

/** A resolver over one version's named schemas (records, payloads, messages). */
export function modelResolver(model: VersionModel): RefResolver {
  const byName = new Map(model.schemas.map((s) => [s.name, s.schema]));
  return (ref) => {
    const match = /^onex:([^#]+)(?:#(.*))?$/.exec(ref);
    const root = match ? byName.get(match[1]!) : undefined;
    if (!root) throw new Error(`cannot resolve ${ref} in v${model.version}`);
    let node: unknown = root;
    for (const segment of pointerSegments(match![2] ?? "")) node = (node as Record<string, unknown>)[segment];
    return node as JsonSchema;
  };
}

const JSON_TYPES = ["array", "boolean", "integer", "null", "number", "object", "string"] as const;
type JsonType = (typeof JSON_TYPES)[number];

/** Lower bounds: a larger value accepts less. */
const LOWER_BOUNDS = ["minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties", "minContains"] as const;
/** Upper bounds: a smaller value accepts less. */
const UPPER_BOUNDS = ["maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties", "maxContains"] as const;
/** Constraints whose values cannot be ordered: any change is a swap. */
const OPAQUE_CONSTRAINTS = ["pattern", "format", "multipleOf"] as const;
const COMBINATORS = ["allOf", "anyOf", "oneOf", "not", "if", "then", "else"] as const;

/** Compares the old and new schema of one message (or any two schemas) and lists the changes, in path order. */
export function compareSchemas(oldSchema: JsonSchema, newSchema: JsonSchema, oldResolve: RefResolver, newResolve: RefResolver): SchemaChange[] {
  const changes: SchemaChange[] = [];
  walk(oldSchema, newSchema, "", { oldResolve, newResolve, seen: new Set() }, changes);
  return changes;
}

interface WalkContext {
  oldResolve: RefResolver;
  newResolve: RefResolver;
  /** `oldRef|newRef` pairs on the current walk, so a recursive record stops at its second visit. */
  seen: Set<string>;
}

function walk(oldRaw: JsonSchema, newRaw: JsonSchema, path: string, ctx: WalkContext, out: SchemaChange[]): void {
  if (oldRaw.$ref === undefined && newRaw.$ref === undefined) return walkResolved(oldRaw, newRaw, path, ctx, out);
  const key = `${String(oldRaw.$ref)}|${String(newRaw.$ref)}`;
  if (ctx.seen.has(key)) return;
  ctx.seen.add(key);
  walkResolved(oldRaw, newRaw, path, ctx, out);
  ctx.seen.delete(key);
}

function walkResolved(oldRaw: JsonSchema, newRaw: JsonSchema, path: string, ctx: WalkContext, out: SchemaChange[]): void {
  // Equal text without refs is equal meaning; with refs, the same ref may name a changed record.
  const oldText = JSON.stringify(oldRaw);
  if (oldText === JSON.stringify(newRaw) && !oldText.includes('"$ref"')) return;
  const oldSchema = deref(oldRaw, ctx.oldResolve);
  const newSchema = deref(newRaw, ctx.newResolve);
  const add = (change: Omit<SchemaChange, "path">) => out.push({ path, ...change });

  const oldTypes = typesOf(oldSchema);
  const newTypes = typesOf(newSchema);
  const typeChange = compareTypes(oldTypes, newTypes);
  if (typeChange) {
    add(typeChange);
    // Disjoint types: the keywords of one say nothing about the other's values.
    if (typeChange.kind !== "type-narrowed" && typeChange.kind !== "type-widened") return;
  }

  compareValues(oldSchema, newSchema, add);
  compareConstraints(oldSchema, newSchema, add);
  for (const keyword of COMBINATORS) {
    if (JSON.stringify(oldSchema[keyword]) !== JSON.stringify(newSchema[keyword])) {
      add({ kind: "combinator-changed", detail: `${keyword} changed; onex does not compare ${keyword} structurally` });
    }
  }
  if (oldTypes.has("object") && newTypes.has("object")) compareObjects(oldSchema, newSchema, path, ctx, out);
  if (oldTypes.has("array") && newTypes.has("array") && (oldSchema.items !== undefined || newSchema.items !== undefined)) {
    const oldItems = asSchema(oldSchema.items);
    const newItems = asSchema(newSchema.items);
    walk(oldItems, newItems, `${path}/-`, ctx, out);
  }
}

/** The schema a `$ref` names, with the ref's sibling keywords laid over it. */
function deref(schema: JsonSchema, resolve: RefResolver): JsonSchema {
  if (typeof schema.$ref !== "string") return schema;
  const { $ref, ...siblings } = schema;
  return { ...deref(resolve($ref), resolve), ...siblings };
}

/** `true`/absent is the empty schema; `false` accepts nothing, which onex treats as a closed slot. */
function asSchema(value: unknown): JsonSchema {
  if (value === undefined || value === true) return {};
  if (value === false) return { not: {} };
  return value as JsonSchema;
}

/** The JSON types a schema admits, from `type`, else from `const`/`enum` values, else from its keywords; every type when nothing says. */
function typesOf(schema: JsonSchema): Set<JsonType> {
  if (typeof schema.type === "string") return withInteger(new Set([schema.type as JsonType]));
  if (Array.isArray(schema.type)) return withInteger(new Set(schema.type as JsonType[]));
  const values = schema.const !== undefined ? [schema.const] : Array.isArray(schema.enum) ? schema.enum : undefined;
  if (values) return new Set(values.map(jsonTypeOf));
  if (schema.properties !== undefined || schema.required !== undefined || schema.additionalProperties !== undefined) return new Set(["object"]);
  if (schema.items !== undefined || schema.prefixItems !== undefined) return new Set(["array"]);
  return new Set(JSON_TYPES);
}

/** `number` includes the integers. */
function withInteger(types: Set<JsonType>): Set<JsonType> {
  if (types.has("number")) types.add("integer");
  return types;
}

function jsonTypeOf(value: unknown): JsonType {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value as JsonType;
}

function compareTypes(oldTypes: Set<JsonType>, newTypes: Set<JsonType>): Omit<SchemaChange, "path"> | undefined {
  const removed = [...oldTypes].filter((t) => !newTypes.has(t));
  const added = [...newTypes].filter((t) => !oldTypes.has(t));
  if (removed.length === 0 && added.length === 0) return undefined;
  const detail = `${typeLabel(oldTypes)} -> ${typeLabel(newTypes)}`;
  if (added.length === 0) return { kind: "type-narrowed", detail };
  if (removed.length === 0) return { kind: "type-widened", detail };
  const scalar = (types: Set<JsonType>) => !types.has("array") && !types.has("object");
  if (scalar(oldTypes) && sameAs(newTypes, ["array"])) return { kind: "scalar-to-array", detail };
  if (sameAs(oldTypes, ["array"]) && scalar(newTypes)) return { kind: "array-to-scalar", detail };
  if (scalar(oldTypes) && sameAs(newTypes, ["object"])) return { kind: "scalar-to-object", detail };
  if (sameAs(oldTypes, ["object"]) && scalar(newTypes)) return { kind: "object-to-scalar", detail };
  return { kind: "type-changed", detail };
}

function sameAs(types: Set<JsonType>, list: JsonType[]): boolean {
  return types.size === list.length && list.every((t) => types.has(t));
}

function typeLabel(types: Set<JsonType>): string {
  if (types.size === JSON_TYPES.length) return "any";
  // `integer` is implied by `number`; naming it again is noise.
  const shown = [...types].filter((t) => !(t === "integer" && types.has("number"))).sort();
  return shown.join("|");
}

/** `const` and `enum`: the value sets a schema pins down. */
function compareValues(oldSchema: JsonSchema, newSchema: JsonSchema, add: (change: Omit<SchemaChange, "path">) => void): void {
  const oldConst = oldSchema.const;
  const newConst = newSchema.const;
  if (oldConst !== undefined || newConst !== undefined) {
    const same = JSON.stringify(oldConst) === JSON.stringify(newConst);
    if (oldConst === undefined) add({ kind: "const-added", detail: `const ${JSON.stringify(newConst)}` });
    else if (newConst === undefined) add({ kind: "const-removed", detail: `const ${JSON.stringify(oldConst)} removed` });
    else if (!same) add({ kind: "const-changed", detail: `const ${JSON.stringify(oldConst)} -> ${JSON.stringify(newConst)}` });
  }
  const oldEnum = Array.isArray(oldSchema.enum) ? oldSchema.enum.map((v) => JSON.stringify(v)) : undefined;
  const newEnum = Array.isArray(newSchema.enum) ? newSchema.enum.map((v) => JSON.stringify(v)) : undefined;
  if (oldEnum && newEnum) {
    const removed = oldEnum.filter((v) => !newEnum.includes(v));
    const added = newEnum.filter((v) => !oldEnum.includes(v));
    if (removed.length > 0) add({ kind: "enum-narrowed", detail: `enum values removed: ${removed.join(", ")}` });
    if (added.length > 0) add({ kind: "enum-extended", detail: `enum values added: ${added.join(", ")}` });
  } else if (newEnum) {
    add({ kind: "constraint-added", detail: `enum [${newEnum.join(", ")}] added` });
  } else if (oldEnum) {
    add({ kind: "constraint-removed", detail: `enum [${oldEnum.join(", ")}] removed` });
  }
}

function compareConstraints(oldSchema: JsonSchema, newSchema: JsonSchema, add: (change: Omit<SchemaChange, "path">) => void): void {
  const bound = (keyword: string, lower: boolean) => {
    const o = oldSchema[keyword];
    const n = newSchema[keyword];
    if (o === n) return;
    if (o === undefined) return add({ kind: "constraint-added", detail: `${keyword} ${JSON.stringify(n)} added` });
    if (n === undefined) return add({ kind: "constraint-removed", detail: `${keyword} ${JSON.stringify(o)} removed` });
    const tighter = lower ? (n as number) > (o as number) : (n as number) < (o as number);
    add({ kind: tighter ? "constraint-tightened" : "constraint-relaxed", detail: `${keyword} ${JSON.stringify(o)} -> ${JSON.stringify(n)}` });
  };
  for (const keyword of LOWER_BOUNDS) bound(keyword, true);
  for (const keyword of UPPER_BOUNDS) bound(keyword, false);
  for (const keyword of OPAQUE_CONSTRAINTS) {
    const o = oldSchema[keyword];
    const n = newSchema[keyword];
    if (JSON.stringify(o) === JSON.stringify(n)) continue;
    if (o === undefined) add({ kind: "constraint-added", detail: `${keyword} ${JSON.stringify(n)} added` });
    else if (n === undefined) add({ kind: "constraint-removed", detail: `${keyword} ${JSON.stringify(o)} removed` });
    else add({ kind: "constraint-changed", detail: `${keyword} ${JSON.stringify(o)} -> ${JSON.stringify(n)}` });
  }
  const oldUnique = oldSchema.uniqueItems === true;
  const newUnique = newSchema.uniqueItems === true;
  if (!oldUnique && newUnique) add({ kind: "constraint-added", detail: "uniqueItems added" });
  if (oldUnique && !newUnique) add({ kind: "constraint-removed", detail: "uniqueItems removed" });
}

function contentModelOf(schema: JsonSchema): ContentModel {
  const extra = schema.additionalProperties;
  if (extra === false) return ContentModel.Closed;
  if (extra === undefined || extra === true || (typeof extra === "object" && extra !== null && Object.keys(extra).length === 0)) return ContentModel.Open;
  return ContentModel.Partial;
}

function compareObjects(oldSchema: JsonSchema, newSchema: JsonSchema, path: string, ctx: WalkContext, out: SchemaChange[]): void {
  const oldProps = (oldSchema.properties ?? {}) as Record<string, JsonSchema>;
  const newProps = (newSchema.properties ?? {}) as Record<string, JsonSchema>;
  const oldRequired = new Set((oldSchema.required ?? []) as string[]);
  const newRequired = new Set((newSchema.required ?? []) as string[]);
  const oldModel = contentModelOf(oldSchema);
  const newModel = contentModelOf(newSchema);

  if (oldModel !== newModel) {
    if (newModel === ContentModel.Closed || (oldModel === ContentModel.Open && newModel === ContentModel.Partial)) {
      out.push({ path, kind: "content-model-closed", detail: `additionalProperties: ${oldModel} -> ${newModel}` });
    } else {
      out.push({ path, kind: "content-model-opened", detail: `additionalProperties: ${oldModel} -> ${newModel}` });
    }
  } else if (oldModel === ContentModel.Partial) {
    walk(asSchema(oldSchema.additionalProperties), asSchema(newSchema.additionalProperties), `${path}/*`, ctx, out);
  }

  const names = [...new Set([...Object.keys(oldProps), ...Object.keys(newProps)])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const name of names) {
    const at = `${path}/${escapePointer(name)}`;
    const o = oldProps[name];
    const n = newProps[name];
    if (o && n) {
      if (!oldRequired.has(name) && newRequired.has(name)) out.push({ path: at, kind: "required-added", detail: `"${name}" is now required` });
      if (oldRequired.has(name) && !newRequired.has(name)) out.push({ path: at, kind: "required-removed", detail: `"${name}" is no longer required` });
      walk(o, n, at, ctx, out);
      continue;
    }
    // Present on one side only: L lists it, M lacks it.
    const [listing, lacking, listingResolve, lackingResolve] = n ? [n, oldSchema, ctx.newResolve, ctx.oldResolve] : [o!, newSchema, ctx.oldResolve, ctx.newResolve];
    const lackingModel = n ? oldModel : newModel;
    const required = n ? newRequired.has(name) : oldRequired.has(name);
    const extra = asSchema(lacking.additionalProperties);
    // Values M's data may hold for the property (its additionalProperties) against L's schema: do any fail L?
    const lackingAdmitsForeign = lackingModel === ContentModel.Closed ? false : breaksReaderOf(extra, lackingResolve, listing, listingResolve);
    // Values L's data may hold against M's additionalProperties: do any fail M?
    const propertyFitsLacking = lackingModel === ContentModel.Partial ? !breaksReaderOf(listing, listingResolve, extra, lackingResolve) : lackingModel === ContentModel.Open;
    out.push({
      path: at,
      kind: n ? "property-added" : "property-removed",
      detail: `${required ? "required" : "optional"} ${summarise(deref(listing, listingResolve), listingResolve)} ${n ? "added to" : "removed from"} ${lackingModel} content model`,
      facts: { lackingModel, required, lackingAdmitsForeign, propertyFitsLacking },
    });
  }
}

/** Can a value valid against `writer` fail `reader`? Answered by the same walk: any change that breaks BACKWARD with reader as the new schema. */
function breaksReaderOf(writer: JsonSchema, writerResolve: RefResolver, reader: JsonSchema, readerResolve: RefResolver): boolean {
  return compareSchemas(writer, reader, writerResolve, readerResolve).some((c) => classify(c).backward);
}

/** A short shape of a schema for the report: `string`, `array<string>`, `object{code, message}`. */
function summarise(schema: JsonSchema, resolve: RefResolver): string {
  const types = typesOf(schema);
  if (sameAs(types, ["object"]) || (types.has("object") && schema.properties)) {
    const props = Object.keys((schema.properties ?? {}) as object).sort();
    return props.length > 0 ? `object{${props.join(", ")}}` : "object";
  }
  if (sameAs(types, ["array"])) return `array<${summarise(deref(asSchema(schema.items), resolve), resolve)}>`;
  return typeLabel(types);
}

function escapePointer(name: string): string {
  return name.replaceAll("~", "~0").replaceAll("/", "~1");
}
