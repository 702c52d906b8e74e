/**
 * Checking trust records arriving from outside against their schemas before any of their
 * fields count: a signature proves who wrote a record, not that its values are sane (a
 * signed trust_delta of 1e308 would move a score to its bound in one step). The runtime
 * does not import generated code, so the rules of each record schema are restated in
 * record-schemas.ts; test/trust/record-schemas.test.ts proves they accept nothing the
 * generated validators reject.
 */
import { ErrorCode, OnexError } from "../errors.js";
import { isRfc3339 } from "./rfc3339-time.js";

/** The rule of one record field, as its JSON Schema states it. */
export type FieldRule =
  | { type: "string"; minLength?: number; pattern?: RegExp; enum?: readonly string[]; format?: "date-time" | "uri" }
  | { type: "number" | "integer"; minimum?: number; maximum?: number }
  | { type: "boolean" }
  | { type: "string[]" }
  | { type: "object"; schema: RecordSchema };

/** A closed object schema: required and optional fields, nothing else. */
export interface RecordSchema {
  required: Record<string, FieldRule>;
  optional?: Record<string, FieldRule>;
}

/** Throws ONEX_E_VALIDATION (with the instance path) unless `value` satisfies `schema`. */
export function assertRecord(value: unknown, schema: RecordSchema, what: string, path = ""): asserts value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw invalid(what, path || "/", "is not a JSON object");
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!Object.hasOwn(schema.required, key) && !(schema.optional !== undefined && Object.hasOwn(schema.optional, key))) {
      throw invalid(what, `${path}/${key}`, "is not a field of this record");
    }
  }
  const { required, optional } = fieldsOf(schema);
  for (const [field, rule] of required) {
    const member = record[field];
    if (member === undefined) throw invalid(what, `${path}/${field}`, "is missing");
    checkField(member, rule, what, path, field);
  }
  for (const [field, rule] of optional) {
    const member = record[field];
    if (member !== undefined) checkField(member, rule, what, path, field);
  }
}

// A schema's fields as lists, made once: every verification of a record walks them (a registry entry
// is checked on every first read of a revision), and a field's path is spelled only for an error.
const fieldLists = new WeakMap<RecordSchema, { required: [string, FieldRule][]; optional: [string, FieldRule][] }>();

function fieldsOf(schema: RecordSchema): { required: [string, FieldRule][]; optional: [string, FieldRule][] } {
  let lists = fieldLists.get(schema);
  if (lists === undefined) {
    lists = { required: Object.entries(schema.required), optional: Object.entries(schema.optional ?? {}) };
    fieldLists.set(schema, lists);
  }
  return lists;
}

function checkField(value: unknown, rule: FieldRule, what: string, parent: string, field: string): void {
  switch (rule.type) {
    case "string": {
      if (typeof value !== "string") throw invalidAt(what, parent, field, "must be a string");
      if (rule.minLength !== undefined && !hasCodePoints(value, rule.minLength)) throw invalidAt(what, parent, field, `must have at least ${rule.minLength} character(s)`);
      if (rule.pattern !== undefined && !rule.pattern.test(value)) throw invalidAt(what, parent, field, `must match ${rule.pattern.source}`);
      if (rule.enum !== undefined && !rule.enum.includes(value)) throw invalidAt(what, parent, field, `must be one of ${rule.enum.join(", ")}`);
      if (rule.format === "date-time" && !isRfc3339(value)) throw invalidAt(what, parent, field, "must be an RFC 3339 time with offset");
      if (rule.format === "uri" && !isUri(value)) throw invalidAt(what, parent, field, "must be an absolute URI");
      return;
    }
    case "number":
    case "integer": {
      if (typeof value !== "number" || !Number.isFinite(value)) throw invalidAt(what, parent, field, "must be a finite number");
      if (rule.type === "integer" && !Number.isInteger(value)) throw invalidAt(what, parent, field, "must be an integer");
      if (rule.minimum !== undefined && value < rule.minimum) throw invalidAt(what, parent, field, `must be >= ${rule.minimum}`);
      if (rule.maximum !== undefined && value > rule.maximum) throw invalidAt(what, parent, field, `must be <= ${rule.maximum}`);
      return;
    }
    case "boolean":
      if (typeof value !== "boolean") throw invalidAt(what, parent, field, "must be a boolean");
      return;
    case "string[]":
      if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) throw invalidAt(what, parent, field, "must be an array of strings");
      return;
    case "object":
      assertRecord(value, rule.schema, what, `${parent}/${field}`);
      return;
  }
}

/** Whether `value` has at least `count` characters as JSON Schema counts them (code points, a lone surrogate being one). */
function hasCodePoints(value: string, count: number): boolean {
  // A code point is one or two UTF-16 units, so the length alone decides most strings.
  if (value.length >= 2 * count) return true;
  if (value.length < count) return false;
  let points = 0;
  for (const _ of value) if (++points >= count) return true;
  return false;
}

function isUri(value: string): boolean {
  // Stricter than needed is fine here: an absolute URI with a scheme, as ajv-formats' "uri" demands.
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$/.test(value)) return false;
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

function invalidAt(what: string, parent: string, field: string, problem: string): OnexError {
  return invalid(what, `${parent}/${field}`, problem);
}

function invalid(what: string, path: string, problem: string): OnexError {
  return new OnexError(ErrorCode.ValidationFailed, `the ${what}'s ${path} ${problem}`, { instancePath: path });
}

/** The JSON type a field must have, for `assertRecordShape`. */
export type FieldType = "string" | "number" | "boolean" | "object" | "string[]";

/**
 * An open shape check (extra fields allowed, `?` suffix: optional), for records that have no
 * closed schema rules here yet; trust records use `assertRecord` with their full schema.
 */
export function assertRecordShape(value: unknown, fields: Record<string, FieldType>, what: string): asserts value is Record<string, unknown> {
  const schema: RecordSchema = { required: {}, optional: {} };
  for (const [name, type] of Object.entries(fields)) {
    const rule: FieldRule = type === "object" ? { type: "object", schema: { required: {} } } : { type };
    if (name.endsWith("?")) schema.optional![name.slice(0, -1)] = rule;
    else schema.required[name] = rule;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw invalid(what, "/", "is not a JSON object");
  const record = value as Record<string, unknown>;
  for (const [field, rule] of Object.entries(schema.required)) {
    if (record[field] === undefined) throw invalid(what, `/${field}`, "is missing");
    checkOpenField(record[field], rule, what, field);
  }
  for (const [field, rule] of Object.entries(schema.optional!)) if (record[field] !== undefined) checkOpenField(record[field], rule, what, field);
}

function checkOpenField(value: unknown, rule: FieldRule, what: string, field: string): void {
  // Objects are only checked to be objects here; their members are the caller's concern.
  if (rule.type === "object") {
    if (value === null || typeof value !== "object" || Array.isArray(value)) throw invalid(what, `/${field}`, "must be an object");
    return;
  }
  checkField(value, rule, what, "", field);
}
