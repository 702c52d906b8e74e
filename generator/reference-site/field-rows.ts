/**
 * A schema as rows of a field table for people: one row per field, nested objects expanded
 * under dotted paths, records linked rather than repeated (each record has its own table),
 * and every constraint spelled out: type, required, default, bounds, format, pattern.
 */
import { compare, pathValue } from "../load-version.js";
import { schemasByNameOf, type JsonSchema, type VersionModel } from "../model.js";
import { pointerSegments } from "../yaml-file.js";

export interface FieldRow {
  /** `payload.build.fingerprint`; `[]` marks an array item, `{}` a map value. */
  path: string;
  /** Element id of the row, unique within a table's page. */
  anchor: string;
  depth: number;
  name: string;
  type: string;
  /** The record a field's type is, for linking to its table. */
  record: string | null;
  required: boolean;
  /** Allowed values (enum or const), as JSON. */
  values: string | null;
  defaultValue: string | null;
  bounds: string | null;
  format: string | null;
  pattern: string | null;
  description: string | null;
}

export interface FieldTable {
  rows: FieldRow[];
  /** Records the table links to, directly or through other records, sorted. */
  records: string[];
  /** Object-level rules a row cannot show (`dependentRequired`). */
  notes: string[];
  /** The schema's own type, for a table with no rows (an open map such as `Residue`). */
  shape: string;
}

/** The field table of the named schema of `model`; `anchorPrefix` keeps ids unique when several tables share a page. */
export function fieldTable(model: VersionModel, name: string, anchorPrefix = "f-"): FieldTable {
  const byName = schemasByNameOf(model);
  const records = new Set<string>();
  const rows: FieldRow[] = [];
  const notes: string[] = [];

  /** Follows refs that are not records (payloads, pointers into schemas); a record ref stops here. */
  const settle = (schema: JsonSchema): { schema: JsonSchema; record: string | null } => {
    let node = schema;
    for (let hops = 0; typeof node.$ref === "string" && hops < 16; hops++) {
      const match = /^onex:([^#]+)(?:#(.*))?$/.exec(node.$ref);
      const target = match ? byName.get(match[1]!) : undefined;
      if (!target) break;
      if (target.kind === "record" && !match![2]) return { schema: { ...target.schema, ...withoutRef(node), description: node.description ?? target.schema.description }, record: target.name };
      const resolved = match![2] ? (pathValue(target.schema, pointerSegments(match![2])) as JsonSchema | undefined) : target.schema;
      if (!resolved) break;
      node = { ...resolved, ...withoutRef(node) };
    }
    return { schema: node, record: null };
  };

  const visit = (schema: JsonSchema, prefix: string, depth: number) => {
    const properties = (schema.properties as Record<string, JsonSchema> | undefined) ?? {};
    const required = new Set((schema.required as string[] | undefined) ?? []);
    const dependent = schema.dependentRequired as Record<string, string[]> | undefined;
    if (prefix === "" && schema.additionalProperties === false) notes.push("Closed: no fields other than these are allowed.");
    for (const [field, needs] of Object.entries(dependent ?? {})) {
      notes.push(`${prefix ? `${prefix}.` : ""}${field} requires ${needs.map((n) => `${prefix ? `${prefix}.` : ""}${n}`).join(", ")}`);
    }
    for (const [field, raw] of Object.entries(properties)) {
      const { schema: sub, record } = settle(raw);
      const path = prefix ? `${prefix}.${field}` : field;
      if (record) {
        records.add(record);
        collectRecords(record);
      }
      rows.push(rowOf(sub, path, depth, field, required.has(field), record, anchorPrefix));
      if (record) continue;
      const item = itemSchema(sub);
      if (item) visit(item.schema, `${path}${item.suffix}`, depth + 1);
    }
  };
  /** The inline object schema under a field (itself, its array items or its map values), if any. */
  const itemSchema = (schema: JsonSchema): { schema: JsonSchema; suffix: string } | undefined => {
    if (schema.properties) return { schema, suffix: "" };
    for (const [key, suffix] of [["items", "[]"], ["additionalProperties", "{}"]] as const) {
      const child = schema[key];
      if (!child || typeof child !== "object" || Array.isArray(child)) continue;
      const { schema: settled, record } = settle(child as JsonSchema);
      if (record) {
        records.add(record);
        collectRecords(record);
        continue;
      }
      if (settled.properties) return { schema: settled, suffix };
    }
    return undefined;
  };
  const collectRecords = (record: string) => {
    const seen = new Set<string>();
    const walk = (node: unknown) => {
      if (Array.isArray(node)) return node.forEach(walk);
      if (node === null || typeof node !== "object") return;
      const ref = (node as JsonSchema).$ref;
      const name = typeof ref === "string" ? /^onex:([^#]+)$/.exec(ref)?.[1] : undefined;
      if (name && byName.get(name)?.kind === "record" && !seen.has(name)) {
        seen.add(name);
        records.add(name);
        walk(byName.get(name)!.schema);
      }
      for (const value of Object.values(node)) walk(value);
    };
    walk(byName.get(record)?.schema);
  };

  const root = byName.get(name);
  const settled = root ? settle(root.schema).schema : {};
  visit(settled, "", 0);
  return { rows, records: [...records].sort(compare), notes, shape: typeLabel(settled) };
}

function withoutRef(schema: JsonSchema): JsonSchema {
  const { $ref: _ref, ...rest } = schema;
  return rest;
}

function rowOf(schema: JsonSchema, path: string, depth: number, name: string, required: boolean, record: string | null, anchorPrefix: string): FieldRow {
  const json = (value: unknown) => JSON.stringify(value);
  const values = Object.hasOwn(schema, "const") ? json(schema.const) : Array.isArray(schema.enum) ? schema.enum.map(json).join(" | ") : null;
  return {
    path,
    anchor: `${anchorPrefix}${path.replace(/[^A-Za-z0-9_.-]/g, "_")}`,
    depth,
    name,
    type: record ?? typeLabel(schema),
    record,
    required,
    values,
    defaultValue: Object.hasOwn(schema, "default") ? json(schema.default) : null,
    // A record's own rules are in its table; repeating them on every field of its type is noise.
    bounds: record ? null : boundsOf(schema),
    format: typeof schema.format === "string" ? schema.format : null,
    pattern: typeof schema.pattern === "string" ? schema.pattern : null,
    description: typeof schema.description === "string" ? schema.description.replace(/\s+/g, " ").trim() : null,
  };
}

/** `string`, `array<string>`, `map<string, string>`, `"a" | "b"` -> `enum`, a record name. */
export function typeLabel(schema: JsonSchema): string {
  if (typeof schema.$ref === "string") return schema.$ref.replace(/^onex:/, "").replace(/#.*$/, "");
  if (Object.hasOwn(schema, "const")) return typeof schema.const === "string" ? "string (const)" : "const";
  const types = Array.isArray(schema.type) ? (schema.type as string[]) : typeof schema.type === "string" ? [schema.type] : [];
  if (Array.isArray(schema.enum)) return types.length > 0 ? `${types.join(" | ")} (enum)` : "enum";
  const label = (type: string): string => {
    if (type === "array") {
      const items = schema.items as JsonSchema | undefined;
      return `array<${items ? typeLabel(items) : "any"}>`;
    }
    if (type === "object" && !schema.properties && schema.additionalProperties && typeof schema.additionalProperties === "object") {
      return `map<string, ${typeLabel(schema.additionalProperties as JsonSchema)}>`;
    }
    return type;
  };
  if (types.length === 0) return schema.properties ? "object" : "any";
  return types.map(label).join(" | ");
}

/** Length, range, item and property bounds in words; null when there are none. */
function boundsOf(schema: JsonSchema): string | null {
  const parts: string[] = [];
  const range = (what: string, min: unknown, max: unknown) => {
    if (typeof min === "number" && typeof max === "number") parts.push(min === max ? `${what} ${min}` : `${what} ${min}..${max}`);
    else if (typeof min === "number") parts.push(`${what} ≥ ${min}`);
    else if (typeof max === "number") parts.push(`${what} ≤ ${max}`);
  };
  range("length", schema.minLength, schema.maxLength);
  range("value", schema.minimum, schema.maximum);
  if (typeof schema.exclusiveMinimum === "number") parts.push(`value > ${schema.exclusiveMinimum}`);
  if (typeof schema.exclusiveMaximum === "number") parts.push(`value < ${schema.exclusiveMaximum}`);
  if (typeof schema.multipleOf === "number") parts.push(`multiple of ${schema.multipleOf}`);
  range("items", schema.minItems, schema.maxItems);
  if (schema.uniqueItems === true) parts.push("unique items");
  range("properties", schema.minProperties, schema.maxProperties);
  if (schema.additionalProperties === false && schema.properties) parts.push("closed (no other fields)");
  return parts.length > 0 ? parts.join("; ") : null;
}
