/**
 * Walking an old and a new JSON Schema side by side and listing what changed, as
 * SchemaChanges the rules in classify.ts can judge. Works on resolved model schemas: a
 * `$ref` (`onex:<Name>#ptr`) is followed through the side's own resolver, so a record
 * changed in the new version shows up under every message path that reaches it.
 *
 * Every keyword of JSON Schema 2020-12 that can change what a message accepts is compared;
 * where the answer depends on what values the subschemas overlap in (a oneOf whose branches
 * may overlap, a changed `if`), the change is reported as breaking both ways and its detail
 * says onex could not decide. A keyword this walk does not know is reported the same way,
 * never ignored.
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

/** Lower bounds: a larger value accepts less. (`minimum`/`exclusiveMinimum` are one numeric bound, compared apart.) */
const LOWER_BOUNDS = ["minLength", "minItems", "minProperties", "minContains"] as const;
/** Upper bounds: a smaller value accepts less. */
const UPPER_BOUNDS = ["maxLength", "maxItems", "maxProperties", "maxContains"] as const;
/** Constraints whose values cannot be ordered: any change is a swap. */
const OPAQUE_CONSTRAINTS = ["pattern", "format", "multipleOf"] as const;
/** Keywords that never change what a schema accepts. */
const ANNOTATIONS = new Set([
  "description", "title", "default", "examples", "$comment", "deprecated", "readOnly", "writeOnly",
  "$id", "$schema", "$anchor", "$defs", "definitions", "contentEncoding", "contentMediaType", "contentSchema",
]);
/** Keywords this walk compares; a change to any other keyword that is not an annotation is reported as undecided. */
const ANALYSED = new Set<string>([
  "$ref", "type", "const", "enum", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", ...LOWER_BOUNDS, ...UPPER_BOUNDS,
  ...OPAQUE_CONSTRAINTS, "uniqueItems", "properties", "required", "additionalProperties", "patternProperties", "propertyNames",
  "dependentRequired", "dependentSchemas", "items", "prefixItems", "contains", "allOf", "anyOf", "oneOf", "not", "if", "then", "else",
]);
/** Said in the detail of every change onex cannot decide structurally. */
const UNDECIDED = "onex cannot decide this structurally, so it treats the change as breaking both ways";

/** Compares the old and new schema of one message (or any two schemas) and lists the changes, in path order. */
export function compareSchemas(oldSchema: JsonSchema, newSchema: JsonSchema, oldResolve: RefResolver, newResolve: RefResolver): SchemaChange[] {
  const changes: SchemaChange[] = [];
  walk(oldSchema, newSchema, "", { oldResolve, newResolve, seen: new Set() }, changes);
  return changes;
}

/**
 * Compares a value a lens moves: its schema at `oldPath` of the old message schema with its
 * schema at `newPath` of the new one, by the same walk a property that stays at its path gets,
 * whether it must be present included. The value is put as one property of a bare object on
 * each side, required where every field from the two paths' common parent down to it is
 * required (a field inside an optional object may be absent), so the walk reports
 * `required-added`/`-removed` and every change of the value's own schema; paths are reported
 * under `newPath`, where the newer version keeps the value. Paths are names joined with `/`
 * (`-` for any array item), as lenses name them. When either path is not a field its schema
 * declares (a lens makes it; a map, a combinator other than allOf), no change is reported: the
 * lens checks accept such a path, and `onex check` tries the move on sampled messages.
 */
export function compareMovedValue(oldSchema: JsonSchema, oldPath: string, newSchema: JsonSchema, newPath: string, oldResolve: RefResolver, newResolve: RefResolver): SchemaChange[] {
  const oldSegments = oldPath.split("/").slice(1);
  const newSegments = newPath.split("/").slice(1);
  let common = 0;
  while (common < Math.min(oldSegments.length, newSegments.length) - 1 && oldSegments[common] === newSegments[common]) common++;
  const oldValue = valueAt(oldSchema, oldSegments, common, oldResolve);
  const newValue = valueAt(newSchema, newSegments, common, newResolve);
  // Not a field the schema declares (a lens makes it; a map, a combinator), as the lens checks
  // allow: nothing to compare field by field, and no change is said. `onex check` runs the move
  // on sampled messages of the old schema and validates each against the new.
  if (!oldValue || !newValue) return [];
  const name = newSegments.at(-1)!;
  const holder = (value: { schema: JsonSchema; required: boolean }): JsonSchema => ({ type: "object", properties: { [name]: value.schema }, required: value.required ? [name] : [] });
  const at = `/${escapePointer(name)}`;
  return compareSchemas(holder(oldValue), holder(newValue), oldResolve, newResolve).map((change) => ({ ...change, path: newPath + change.path.slice(at.length) }));
}

/**
 * The schema at `segments` below `schema`, and whether the value is always there once the
 * object at `segments[0..from)` is. Follows `properties` (of the schema or of its allOf
 * members, `$ref`s resolved) and `items` for `-`.
 */
function valueAt(schema: JsonSchema, segments: readonly string[], from: number, resolve: RefResolver): { schema: JsonSchema; required: boolean } | undefined {
  let node = schema;
  let required = true;
  for (const [i, segment] of segments.entries()) {
    const resolved = deref(node, resolve);
    if (segment === "-") {
      if (resolved.items === undefined || typeof resolved.items === "boolean") return undefined;
      node = asSchema(resolved.items);
      continue;
    }
    const members = [resolved, ...(Array.isArray(resolved.allOf) ? (resolved.allOf as unknown[]).map((m) => deref(asSchema(m), resolve)) : [])];
    const declaring = members.filter((m) => m.properties !== null && typeof m.properties === "object" && Object.hasOwn(m.properties, segment));
    // Declared by two allOf members, the value must pass both schemas: not one schema to compare.
    if (declaring.length !== 1) return undefined;
    node = asSchema((declaring[0]!.properties as Record<string, unknown>)[segment]);
    if (i >= from) required &&= members.some((m) => Array.isArray(m.required) && (m.required as unknown[]).includes(segment));
  }
  return { schema: node, required };
}

interface WalkContext {
  oldResolve: RefResolver;
  newResolve: RefResolver;
  /** `oldRef|newRef` pairs on the current walk, so a recursive record stops at its second visit. */
  seen: Set<string>;
}

/**
 * The types a subschema applied in place (allOf, anyOf, oneOf, not, if/then/else,
 * dependentSchemas) is about: its parent's, unless it says otherwise. `{required: [b]}` in
 * an object's allOf constrains that object; it is not a schema of any type.
 */
interface Inherited {
  old: Set<JsonType>;
  new: Set<JsonType>;
}

/** Walks a pair of subschemas, prefixing each change's detail; `invert` inside `not`; `inPlace: false` for subschemas of other values (items, names). */
type SubWalk = (oldSub: unknown, newSub: unknown, path: string, prefix: string, options?: { invert?: boolean; inPlace?: boolean }) => void;
/** Records a change at the current path, or at `path`. */
type AddChange = (change: Omit<SchemaChange, "path">, path?: string) => void;

function walk(oldRaw: JsonSchema, newRaw: JsonSchema, path: string, ctx: WalkContext, out: SchemaChange[], inherited?: Inherited): void {
  if (oldRaw.$ref === undefined && newRaw.$ref === undefined) return walkResolved(oldRaw, newRaw, path, ctx, out, inherited);
  const key = `${String(oldRaw.$ref)}|${String(newRaw.$ref)}`;
  if (ctx.seen.has(key)) return;
  ctx.seen.add(key);
  walkResolved(oldRaw, newRaw, path, ctx, out, inherited);
  ctx.seen.delete(key);
}

function walkResolved(oldRaw: JsonSchema, newRaw: JsonSchema, path: string, ctx: WalkContext, out: SchemaChange[], inherited?: Inherited): void {
  // Equal text without refs is equal meaning; with refs, the same ref may name a changed record.
  const oldText = JSON.stringify(oldRaw);
  if (oldText === JSON.stringify(newRaw) && !oldText.includes('"$ref"')) return;
  const oldSchema = deref(oldRaw, ctx.oldResolve);
  const newSchema = deref(newRaw, ctx.newResolve);
  const add: AddChange = (change, at = path) => out.push({ path: at, ...change });
  const changesBefore = out.length;

  const oldTypes = typesOf(oldSchema, inherited?.old);
  const newTypes = typesOf(newSchema, inherited?.new);
  const typeChange = compareTypes(oldTypes, newTypes);
  if (typeChange) {
    add(typeChange);
    // Disjoint types: the keywords of one say nothing about the other's values.
    if (typeChange.kind !== "type-narrowed" && typeChange.kind !== "type-widened") return;
  }
  const types: Inherited = { old: oldTypes, new: newTypes };
  const sub: SubWalk = (o, n, at, prefix, options = {}) => {
    const found: SchemaChange[] = [];
    walk(asSchema(o), asSchema(n), at, ctx, found, options.inPlace === false ? undefined : types);
    for (const { inverted, ...change } of found) {
      const flipped = (options.invert ?? false) !== (inverted ?? false);
      out.push({ ...change, detail: `${prefix}${change.detail}`, ...(flipped ? { inverted: true } : {}) });
    }
  };

  compareValues(oldSchema, newSchema, add);
  compareNumericBounds(oldSchema, newSchema, oldTypes, newTypes, add);
  compareConstraints(oldSchema, newSchema, add);
  compareApplicators(oldSchema, newSchema, path, ctx, sub, add);
  compareUnanalysed(oldSchema, newSchema, ctx, add);
  if (oldTypes.has("object") && newTypes.has("object")) compareObjects(oldSchema, newSchema, path, ctx, out, sub, add);
  if (oldTypes.has("array") && newTypes.has("array")) compareArrays(oldSchema, newSchema, path, ctx, out, sub, add);
  // Changed below: a change was found, or the text differs where none was (`prefixItems: [{}]` added evaluates an item).
  compareUnevaluated(oldSchema, newSchema, out.length > changesBefore || JSON.stringify(oldSchema) !== JSON.stringify(newSchema), add);
}

/**
 * unevaluatedProperties / unevaluatedItems apply to what the schema's other keywords (and its
 * in-place subschemas) did not evaluate, so they change meaning when those change even when
 * they are unchanged themselves: a `prefixItems` added beside `unevaluatedItems: false` lets
 * items through that were rejected. onex does not track what is evaluated, so any change under
 * a schema that has one is also reported as undecided.
 */
function compareUnevaluated(oldSchema: JsonSchema, newSchema: JsonSchema, changedBelow: boolean, add: AddChange): void {
  if (!changedBelow) return;
  for (const keyword of ["unevaluatedProperties", "unevaluatedItems"]) {
    if (oldSchema[keyword] === undefined && newSchema[keyword] === undefined) continue;
    // A change to the keyword itself is reported by compareUnanalysed already.
    if (JSON.stringify(oldSchema[keyword]) !== JSON.stringify(newSchema[keyword])) continue;
    add({ kind: "keyword-changed", detail: `${keyword} applies to what the changed keywords beside it no longer evaluate; ${UNDECIDED}` });
  }
}

/**
 * The schema a `$ref` names. Its sibling keywords apply beside the target, not in its place
 * (`{$ref: A, maxLength: 10}` with A's `maxLength: 5` accepts 5 characters): annotations are
 * laid over the target; any other sibling makes the pair an allOf.
 */
function deref(schema: JsonSchema, resolve: RefResolver): JsonSchema {
  if (typeof schema.$ref !== "string") return schema;
  const { $ref, ...siblings } = schema;
  const target = deref(resolve($ref), resolve);
  if (Object.keys(siblings).every((k) => ANNOTATIONS.has(k))) return { ...target, ...siblings };
  return { allOf: [target, siblings] };
}

/** `true`/absent is the empty schema; `false` accepts nothing, which onex treats as a closed slot. */
function asSchema(value: unknown): JsonSchema {
  if (value === undefined || value === true) return {};
  if (value === false) return { not: {} };
  return value as JsonSchema;
}

/** True for a schema that accepts everything: absent, `true`, or only annotations. */
function acceptsAll(value: unknown): boolean {
  if (value === undefined || value === true) return true;
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  return Object.keys(value).every((k) => ANNOTATIONS.has(k));
}

/**
 * The JSON types a schema admits, from `type`, else from `const`/`enum` values, else (for a
 * subschema applied in place) its parent's; every type when nothing says. Never from its
 * other keywords: `{properties: ...}` or `{items: ...}` without `type` accepts a string too,
 * and taking it for an object would hide both a `type: object` added and every array keyword.
 */
function typesOf(schema: JsonSchema, inherited?: Set<JsonType>): Set<JsonType> {
  if (typeof schema.type === "string") return withInteger(new Set([schema.type as JsonType]));
  if (Array.isArray(schema.type)) return withInteger(new Set(schema.type as JsonType[]));
  const values = schema.const !== undefined ? [schema.const] : Array.isArray(schema.enum) ? schema.enum : undefined;
  if (values) return new Set(values.map(jsonTypeOf));
  return inherited ?? new Set(JSON_TYPES);
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

/** The values `const` and `enum` together allow (as JSON text), or undefined when neither is present. */
function valueSet(schema: JsonSchema): string[] | undefined {
  const fixed = schema.const !== undefined ? [JSON.stringify(schema.const)] : undefined;
  const listed = Array.isArray(schema.enum) ? schema.enum.map((v) => JSON.stringify(v)) : undefined;
  if (fixed && listed) return fixed.filter((v) => listed.includes(v));
  return fixed ?? listed;
}

/** `const` and `enum`, compared as one set of allowed values: `enum [x, y]` -> `const x` is a narrowing, not a swap. */
function compareValues(oldSchema: JsonSchema, newSchema: JsonSchema, add: AddChange): void {
  const oldValues = valueSet(oldSchema);
  const newValues = valueSet(newSchema);
  const onlyConst = (schema: JsonSchema) => schema.const !== undefined && schema.enum === undefined;
  if (!oldValues && !newValues) return;
  if (!oldValues) {
    add(onlyConst(newSchema) ? { kind: "const-added", detail: `const ${newValues![0]}` } : { kind: "constraint-added", detail: `enum [${newValues!.join(", ")}] added` });
    return;
  }
  if (!newValues) {
    add(onlyConst(oldSchema) ? { kind: "const-removed", detail: `const ${oldValues[0]} removed` } : { kind: "constraint-removed", detail: `enum [${oldValues.join(", ")}] removed` });
    return;
  }
  const removed = oldValues.filter((v) => !newValues.includes(v));
  const added = newValues.filter((v) => !oldValues.includes(v));
  if (removed.length === 0 && added.length === 0) return;
  if (oldValues.length === 1 && newValues.length === 1) {
    add({ kind: "const-changed", detail: `const ${oldValues[0]} -> ${newValues[0]}` });
    return;
  }
  if (removed.length > 0) add({ kind: "enum-narrowed", detail: `enum values removed: ${removed.join(", ")}` });
  if (added.length > 0) add({ kind: "enum-extended", detail: `enum values added: ${added.join(", ")}` });
}

/** One numeric bound: the tighter of `minimum`/`exclusiveMinimum` (or the maximums), as written and as compared. */
interface NumericBound {
  value: number;
  exclusive: boolean;
  text: string;
}

function numericBound(schema: JsonSchema, side: "lower" | "upper", integersOnly: boolean): NumericBound | undefined {
  const [inclusive, exclusive] = side === "lower" ? ["minimum", "exclusiveMinimum"] : ["maximum", "exclusiveMaximum"];
  const candidates: NumericBound[] = [];
  for (const [keyword, isExclusive] of [[inclusive, false], [exclusive, true]] as const) {
    const raw = schema[keyword];
    if (typeof raw !== "number") continue;
    // Over the integers `exclusiveMinimum 0` is `minimum 1`: compare the integers each bound lets through.
    if (integersOnly) {
      const value = side === "lower" ? (isExclusive ? Math.floor(raw) + 1 : Math.ceil(raw)) : isExclusive ? Math.ceil(raw) - 1 : Math.floor(raw);
      candidates.push({ value, exclusive: false, text: `${keyword} ${raw}` });
    } else {
      candidates.push({ value: raw, exclusive: isExclusive, text: `${keyword} ${raw}` });
    }
  }
  if (candidates.length === 0) return undefined;
  const text = candidates.map((c) => c.text).join(" and ");
  const tightest = candidates.reduce((a, b) => (tighterThan(b, a, side) ? b : a));
  return { ...tightest, text };
}

/** Is bound `a` tighter than `b` (does it let fewer numbers through)? */
function tighterThan(a: NumericBound, b: NumericBound, side: "lower" | "upper"): boolean {
  if (a.value !== b.value) return side === "lower" ? a.value > b.value : a.value < b.value;
  return a.exclusive && !b.exclusive;
}

function compareNumericBounds(oldSchema: JsonSchema, newSchema: JsonSchema, oldTypes: Set<JsonType>, newTypes: Set<JsonType>, add: AddChange): void {
  const integersOnly = (types: Set<JsonType>) => types.has("integer") && !types.has("number");
  for (const side of ["lower", "upper"] as const) {
    const o = numericBound(oldSchema, side, integersOnly(oldTypes));
    const n = numericBound(newSchema, side, integersOnly(newTypes));
    if (!o && !n) continue;
    if (!o) add({ kind: "constraint-added", detail: `${n!.text} added` });
    else if (!n) add({ kind: "constraint-removed", detail: `${o.text} removed` });
    else if (tighterThan(n, o, side)) add({ kind: "constraint-tightened", detail: `${o.text} -> ${n.text}` });
    else if (tighterThan(o, n, side)) add({ kind: "constraint-relaxed", detail: `${o.text} -> ${n.text}` });
  }
}

function compareConstraints(oldSchema: JsonSchema, newSchema: JsonSchema, add: AddChange): void {
  const bound = (keyword: string, lower: boolean) => {
    const o = effectiveBound(oldSchema, keyword);
    const n = effectiveBound(newSchema, keyword);
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

/**
 * A bound's value as it acts: `minContains` is 1 when absent beside `contains` (so
 * `minContains: 0` added relaxes it), and neither it nor `maxContains` acts without `contains`.
 */
function effectiveBound(schema: JsonSchema, keyword: string): unknown {
  if (keyword !== "minContains" && keyword !== "maxContains") return schema[keyword];
  if (schema.contains === undefined) return undefined;
  return keyword === "minContains" ? (schema.minContains ?? 1) : schema.maxContains;
}

/**
 * allOf, anyOf, oneOf, not, if/then/else and dependentSchemas: the keywords that apply
 * subschemas to the same value. Members are matched by equal text first (reordering is no
 * change), then by position.
 */
function compareApplicators(oldSchema: JsonSchema, newSchema: JsonSchema, path: string, ctx: WalkContext, sub: SubWalk, add: AddChange): void {
  const list = (schema: JsonSchema, keyword: string) => (Array.isArray(schema[keyword]) ? (schema[keyword] as unknown[]) : undefined);

  // allOf: every member holds, so a member added narrows and one removed widens.
  {
    const olds = list(oldSchema, "allOf") ?? [];
    const news = list(newSchema, "allOf") ?? [];
    const { paired, removed, added } = pairMembers(olds, news);
    for (const [i, j] of paired) sub(olds[i], news[j], path, `allOf[${j}]: `);
    for (const i of removed) if (!acceptsAll(olds[i])) add({ kind: "constraint-removed", detail: `allOf member ${JSON.stringify(olds[i])} removed` });
    for (const j of added) if (!acceptsAll(news[j])) add({ kind: "constraint-added", detail: `allOf member ${JSON.stringify(news[j])} added` });
  }

  // anyOf, and a oneOf whose branches cannot overlap: one branch holds, so a branch added widens and one removed narrows.
  for (const keyword of ["anyOf", "oneOf"] as const) {
    const olds = list(oldSchema, keyword);
    const news = list(newSchema, keyword);
    if (!olds && !news) continue;
    if (!olds || !news) {
      add(olds ? { kind: "constraint-removed", detail: `${keyword} removed` } : { kind: "constraint-added", detail: `${keyword} added` });
      continue;
    }
    const { paired, removed, added } = pairMembers(olds, news);
    if (paired.length === 0 && removed.length === 0 && added.length === 0) continue;
    if (keyword === "oneOf" && !(branchesDisjoint(olds, ctx.oldResolve) && branchesDisjoint(news, ctx.newResolve))) {
      // A value matching two overlapping branches is rejected: adding, removing or changing a branch can narrow and widen at once.
      add({ kind: "combinator-changed", detail: `oneOf changed and its branches may overlap; ${UNDECIDED}` });
      continue;
    }
    for (const [i, j] of paired) sub(olds[i], news[j], path, `${keyword}[${j}]: `);
    for (const i of removed) add({ kind: "branch-removed", detail: `${keyword} branch ${JSON.stringify(olds[i])} removed` });
    for (const j of added) add({ kind: "branch-added", detail: `${keyword} branch ${JSON.stringify(news[j])} added` });
  }

  // not: the subschema must fail, so whatever it gains the schema loses.
  if (oldSchema.not !== undefined || newSchema.not !== undefined) {
    if (oldSchema.not === undefined) add({ kind: "constraint-added", detail: "not added" });
    else if (newSchema.not === undefined) add({ kind: "constraint-removed", detail: "not removed" });
    else sub(oldSchema.not, newSchema.not, path, "not: ", { invert: true });
  }

  // if/then/else: then and else apply under the `if`; an `if` alone asserts nothing.
  const conditional = (schema: JsonSchema) => schema.if !== undefined && (!acceptsAll(schema.then) || !acceptsAll(schema.else));
  if (conditional(oldSchema) || conditional(newSchema)) {
    if (!conditional(oldSchema)) add({ kind: "constraint-added", detail: "if/then/else added" });
    else if (!conditional(newSchema)) add({ kind: "constraint-removed", detail: "if/then/else removed" });
    else if (!acceptSame(oldSchema.if, newSchema.if, ctx)) add({ kind: "combinator-changed", detail: `if changed, so then/else apply to other values; ${UNDECIDED}` });
    else {
      for (const branch of ["then", "else"] as const) {
        const o = oldSchema[branch];
        const n = newSchema[branch];
        if (acceptsAll(o) && acceptsAll(n)) continue;
        if (acceptsAll(o)) add({ kind: "constraint-added", detail: `${branch} added` });
        else if (acceptsAll(n)) add({ kind: "constraint-removed", detail: `${branch} removed` });
        else sub(o, n, path, `${branch}: `);
      }
    }
  }

  // dependentSchemas: a subschema for the whole object, applied when the named property is present.
  const oldDeps = (oldSchema.dependentSchemas ?? {}) as Record<string, unknown>;
  const newDeps = (newSchema.dependentSchemas ?? {}) as Record<string, unknown>;
  for (const name of sortedUnion(Object.keys(oldDeps), Object.keys(newDeps))) {
    const o = oldDeps[name];
    const n = newDeps[name];
    if (acceptsAll(o) && acceptsAll(n)) continue;
    if (acceptsAll(o)) add({ kind: "constraint-added", detail: `dependentSchemas "${name}" added` });
    else if (acceptsAll(n)) add({ kind: "constraint-removed", detail: `dependentSchemas "${name}" removed` });
    else sub(o, n, path, `dependentSchemas "${name}": `);
  }
}

/** Members of two lists paired: equal text first (order does not matter to allOf/anyOf/oneOf), then by position; the rest are removed or added. */
function pairMembers(olds: readonly unknown[], news: readonly unknown[]): { paired: [number, number][]; removed: number[]; added: number[] } {
  const restOld = [...olds.keys()];
  const restNew = [...news.keys()];
  for (const i of [...restOld]) {
    const text = JSON.stringify(olds[i]);
    // The same ref may name a changed record: such members are compared, not assumed equal.
    if (text.includes('"$ref"')) continue;
    const j = restNew.find((k) => JSON.stringify(news[k]) === text);
    if (j === undefined) continue;
    restOld.splice(restOld.indexOf(i), 1);
    restNew.splice(restNew.indexOf(j), 1);
  }
  const paired: [number, number][] = [];
  while (restOld.length > 0 && restNew.length > 0) paired.push([restOld.shift()!, restNew.shift()!]);
  return { paired, removed: restOld, added: restNew };
}

/**
 * True when no value can match two of `branches`: each pair declares disjoint types, or
 * requires one property with disjoint `const`/`enum` values (a discriminator).
 */
function branchesDisjoint(branches: readonly unknown[], resolve: RefResolver): boolean {
  const schemas = branches.map((b) => deref(asSchema(b), resolve));
  const declared = (schema: JsonSchema) =>
    typeof schema.type === "string" ? withInteger(new Set([schema.type as JsonType])) : Array.isArray(schema.type) ? withInteger(new Set(schema.type as JsonType[])) : undefined;
  const discriminators = (schema: JsonSchema) => {
    const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
    const out = new Map<string, string[]>();
    for (const [name, prop] of Object.entries((schema.properties ?? {}) as Record<string, unknown>)) {
      const values = valueSet(deref(asSchema(prop), resolve));
      if (required.has(name) && values) out.set(name, values);
    }
    return out;
  };
  for (let i = 0; i < schemas.length; i++) {
    for (let j = i + 1; j < schemas.length; j++) {
      const typesA = declared(schemas[i]!);
      const typesB = declared(schemas[j]!);
      if (typesA && typesB && ![...typesA].some((t) => typesB.has(t))) continue;
      const a = discriminators(schemas[i]!);
      const b = discriminators(schemas[j]!);
      if ([...a].some(([name, values]) => b.has(name) && !values.some((v) => b.get(name)!.includes(v)))) continue;
      return false;
    }
  }
  return true;
}

/**
 * Do two subschemas accept the same values? When the walk finds no change at all, yes (it
 * reports every change, undecided ones included), and it follows `$ref`: the same text may
 * name a record changed in the new version.
 */
function acceptSame(oldSub: unknown, newSub: unknown, ctx: WalkContext): boolean {
  const text = JSON.stringify(oldSub);
  if (text === JSON.stringify(newSub) && !text.includes('"$ref"')) return true;
  return compareSchemas(asSchema(oldSub), asSchema(newSub), ctx.oldResolve, ctx.newResolve).length === 0;
}

/** Does any `$ref` in `value` (or in what it names, transitively) name a schema whose text differs between the versions? */
function refTargetsDiffer(value: unknown, ctx: WalkContext, seen = new Set<string>()): boolean {
  if (value === null || typeof value !== "object") return false;
  if (Array.isArray(value)) return value.some((v) => refTargetsDiffer(v, ctx, seen));
  for (const [key, v] of Object.entries(value)) {
    if (key === "$ref" && typeof v === "string" && !seen.has(v)) {
      seen.add(v);
      let oldTarget: unknown, newTarget: unknown;
      try {
        oldTarget = ctx.oldResolve(v);
        newTarget = ctx.newResolve(v);
      } catch {
        return true;
      }
      if (JSON.stringify(oldTarget) !== JSON.stringify(newTarget) || refTargetsDiffer(oldTarget, ctx, seen)) return true;
    } else if (refTargetsDiffer(v, ctx, seen)) return true;
  }
  return false;
}

/** Keywords this walk does not analyse: a change to one is reported as undecided, never ignored. */
function compareUnanalysed(oldSchema: JsonSchema, newSchema: JsonSchema, ctx: WalkContext, add: AddChange): void {
  for (const keyword of sortedUnion(Object.keys(oldSchema), Object.keys(newSchema))) {
    if (ANALYSED.has(keyword) || ANNOTATIONS.has(keyword)) continue;
    // Equal text naming a ref may name a changed record; what the keyword does with it is unknown, so it is changed.
    const text = JSON.stringify(oldSchema[keyword]);
    if (text === JSON.stringify(newSchema[keyword]) && !(text.includes('"$ref"') && refTargetsDiffer(oldSchema[keyword], ctx))) continue;
    add({ kind: "keyword-changed", detail: `${keyword} changed; ${UNDECIDED}` });
  }
}

/** items, prefixItems and contains. */
function compareArrays(oldSchema: JsonSchema, newSchema: JsonSchema, path: string, ctx: WalkContext, out: SchemaChange[], sub: SubWalk, add: AddChange): void {
  const oldPrefix = Array.isArray(oldSchema.prefixItems) ? (oldSchema.prefixItems as unknown[]) : [];
  const newPrefix = Array.isArray(newSchema.prefixItems) ? (newSchema.prefixItems as unknown[]) : [];
  if (oldPrefix.length !== newPrefix.length && (oldSchema.items !== undefined || newSchema.items !== undefined)) {
    // `items` governs the items after the prefix: moving where the prefix ends moves what `items` applies to.
    add({ kind: "combinator-changed", detail: `prefixItems changed length beside items; ${UNDECIDED}` });
  } else {
    for (let i = 0; i < Math.max(oldPrefix.length, newPrefix.length); i++) {
      const o = oldPrefix[i];
      const n = newPrefix[i];
      if (acceptsAll(o) && acceptsAll(n)) continue;
      if (acceptsAll(o)) add({ kind: "constraint-added", detail: `prefixItems[${i}] added` }, `${path}/${i}`);
      else if (acceptsAll(n)) add({ kind: "constraint-removed", detail: `prefixItems[${i}] removed` }, `${path}/${i}`);
      else sub(o, n, `${path}/${i}`, "", { inPlace: false });
    }
  }
  if (oldSchema.items !== undefined || newSchema.items !== undefined) walk(asSchema(oldSchema.items), asSchema(newSchema.items), `${path}/-`, ctx, out);
  if (oldSchema.contains !== undefined || newSchema.contains !== undefined) {
    if (oldSchema.contains === undefined) add({ kind: "constraint-added", detail: "contains added" });
    else if (newSchema.contains === undefined) add({ kind: "constraint-removed", detail: "contains removed" });
    else {
      // maxContains counts contains' matches from above: a narrower contains lets more arrays under
      // it, a wider one fewer, the opposite of what the change does to the (min) count below.
      const counted = effectiveBound(oldSchema, "maxContains") !== undefined || effectiveBound(newSchema, "maxContains") !== undefined;
      if (counted && !acceptSame(oldSchema.contains, newSchema.contains, ctx)) add({ kind: "keyword-changed", detail: `contains changed beside maxContains, which bounds its matches from above; ${UNDECIDED}` }, `${path}/-`);
      sub(oldSchema.contains, newSchema.contains, `${path}/-`, "contains: ", { inPlace: false });
    }
  }
}

function contentModelOf(schema: JsonSchema): ContentModel {
  const extra = schema.additionalProperties;
  if (extra === false) return ContentModel.Closed;
  if (extra === undefined || extra === true || (typeof extra === "object" && extra !== null && Object.keys(extra).length === 0)) return ContentModel.Open;
  return ContentModel.Partial;
}

function compareObjects(oldSchema: JsonSchema, newSchema: JsonSchema, path: string, ctx: WalkContext, out: SchemaChange[], sub: SubWalk, add: AddChange): void {
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

  /**
   * Facts about a property (or pattern) L lists and M lacks. M's data may carry such a
   * property all the same, governed by M's patternProperties whose patterns match its name,
   * else by M's additionalProperties.
   */
  const factsFor = (listing: JsonSchema, listedNew: boolean, required: boolean, name: { property: string } | { pattern: string }) => {
    const [lacking, listingResolve, lackingResolve] = listedNew ? [oldSchema, ctx.newResolve, ctx.oldResolve] : [newSchema, ctx.oldResolve, ctx.newResolve];
    const lackingPatterns = (lacking.patternProperties ?? {}) as Record<string, unknown>;
    if ("pattern" in name && Object.keys(lackingPatterns).length > 0) {
      // Whether M's patterns match names L's pattern matches is a question about two regular expressions: undecided.
      return { facts: { lackingModel: ContentModel.Partial, required, lackingAdmitsForeign: true, propertyFitsLacking: false }, undecided: true };
    }
    const matching = "property" in name ? Object.keys(lackingPatterns).filter((pattern) => patternMatches(pattern, name.property)) : [];
    const lackingModel = matching.length === 0 ? (listedNew ? oldModel : newModel) : matching.every((p) => acceptsAll(lackingPatterns[p])) ? ContentModel.Open : ContentModel.Partial;
    const extra = matching.length === 0 ? asSchema(lacking.additionalProperties) : { allOf: matching.map((p) => lackingPatterns[p]) };
    // Values M's data may hold for the property (its additionalProperties) against L's schema: do any fail L?
    const lackingAdmitsForeign = lackingModel === ContentModel.Closed ? false : breaksReaderOf(extra, lackingResolve, listing, listingResolve);
    // Values L's data may hold against M's additionalProperties: do any fail M?
    const propertyFitsLacking = lackingModel === ContentModel.Partial ? !breaksReaderOf(listing, listingResolve, extra, lackingResolve) : lackingModel === ContentModel.Open;
    return { facts: { lackingModel, required, lackingAdmitsForeign, propertyFitsLacking }, undecided: false };
  };

  // `required` may name a property `properties` does not list: it is required all the same.
  const names = sortedUnion([...Object.keys(oldProps), ...oldRequired], [...Object.keys(newProps), ...newRequired]);
  for (const name of names) {
    const at = `${path}/${escapePointer(name)}`;
    // A property schema may be a boolean: `false` (the property must be absent) is listed, not missing.
    const o = Object.hasOwn(oldProps, name) ? asSchema(oldProps[name]) : undefined;
    const n = Object.hasOwn(newProps, name) ? asSchema(newProps[name]) : undefined;
    if ((o && n) || (!o && !n)) {
      if (!oldRequired.has(name) && newRequired.has(name)) out.push({ path: at, kind: "required-added", detail: `"${name}" is now required${o ? "" : " (not listed under properties)"}` });
      if (oldRequired.has(name) && !newRequired.has(name)) out.push({ path: at, kind: "required-removed", detail: `"${name}" is no longer required${o ? "" : " (not listed under properties)"}` });
      if (o && n) walk(o, n, at, ctx, out);
      continue;
    }
    // Present on one side only: L lists it, M lacks it.
    const listing = (n ?? o)!;
    const listingResolve = n ? ctx.newResolve : ctx.oldResolve;
    const { facts } = factsFor(listing, n !== undefined, n ? newRequired.has(name) : oldRequired.has(name), { property: name });
    out.push({
      path: at,
      kind: n ? "property-added" : "property-removed",
      detail: `${facts.required ? "required" : "optional"} ${summarise(deref(listing, listingResolve), listingResolve)} ${n ? "added to" : "removed from"} ${facts.lackingModel} content model`,
      facts,
    });
  }

  // patternProperties: like a property for every name matching the pattern, never required.
  const oldPatterns = (oldSchema.patternProperties ?? {}) as Record<string, JsonSchema>;
  const newPatterns = (newSchema.patternProperties ?? {}) as Record<string, JsonSchema>;
  for (const pattern of sortedUnion(Object.keys(oldPatterns), Object.keys(newPatterns))) {
    const o = oldPatterns[pattern];
    const n = newPatterns[pattern];
    if (o !== undefined && n !== undefined) {
      sub(o, n, `${path}/*`, `patternProperties "${pattern}": `, { inPlace: false });
      continue;
    }
    const { facts, undecided } = factsFor(asSchema(n ?? o), n !== undefined, false, { pattern });
    add({
      kind: n !== undefined ? "pattern-property-added" : "pattern-property-removed",
      detail: undecided
        ? `patternProperties "${pattern}" ${n !== undefined ? "added beside" : "removed from beside"} other patterns that may match the same names; ${UNDECIDED}`
        : `patternProperties "${pattern}" ${n !== undefined ? "added to" : "removed from"} ${facts.lackingModel} content model`,
      facts,
    }, `${path}/*`);
  }

  // propertyNames: a schema every name must pass.
  if (!acceptsAll(oldSchema.propertyNames) || !acceptsAll(newSchema.propertyNames)) {
    if (acceptsAll(oldSchema.propertyNames)) add({ kind: "constraint-added", detail: `propertyNames ${JSON.stringify(newSchema.propertyNames)} added` });
    else if (acceptsAll(newSchema.propertyNames)) add({ kind: "constraint-removed", detail: `propertyNames ${JSON.stringify(oldSchema.propertyNames)} removed` });
    else sub(oldSchema.propertyNames, newSchema.propertyNames, path, "propertyNames: ", { inPlace: false });
  }

  // dependentRequired: names required when a property is present; more names accept fewer objects.
  const oldDeps = (oldSchema.dependentRequired ?? {}) as Record<string, string[]>;
  const newDeps = (newSchema.dependentRequired ?? {}) as Record<string, string[]>;
  for (const name of sortedUnion(Object.keys(oldDeps), Object.keys(newDeps))) {
    const o = oldDeps[name] ?? [];
    const n = newDeps[name] ?? [];
    const added = n.filter((v) => !o.includes(v));
    const removed = o.filter((v) => !n.includes(v));
    if (added.length === 0 && removed.length === 0) continue;
    const detail = `dependentRequired "${name}": [${o.join(", ")}] -> [${n.join(", ")}]`;
    const at = `${path}/${escapePointer(name)}`;
    if (added.length > 0 && removed.length > 0) add({ kind: "constraint-changed", detail }, at);
    else if (added.length > 0) add({ kind: o.length === 0 ? "constraint-added" : "constraint-tightened", detail }, at);
    else add({ kind: n.length === 0 ? "constraint-removed" : "constraint-relaxed", detail }, at);
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

/** Does a patternProperties pattern match a property name, as ajv matches it (`u` flag)? A pattern that does not compile is taken to match. */
function patternMatches(pattern: string, name: string): boolean {
  try {
    return new RegExp(pattern, "u").test(name);
  } catch {
    return true;
  }
}

function escapePointer(name: string): string {
  return name.replaceAll("~", "~0").replaceAll("/", "~1");
}

function sortedUnion(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
}
