/**
 * A minimal shape check for trust records arriving from outside: enough that the checks
 * which follow never read a field of the wrong type. Full schema validation is the
 * generated validators' job (`validators.SessionGrant` and friends).
 */
import { ErrorCode, OnexError } from "../errors.js";

/** The JSON type a record field must have. */
export type FieldType = "string" | "number" | "boolean" | "object" | "string[]";

/** Throws ONEX_E_VALIDATION unless `value` is an object whose fields have the given types (`?` suffix: optional). */
export function assertRecordShape(value: unknown, fields: Record<string, FieldType>, what: string): asserts value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new OnexError(ErrorCode.ValidationFailed, `the ${what} is not a JSON object`, { instancePath: "/" });
  }
  const record = value as Record<string, unknown>;
  for (const [name, type] of Object.entries(fields)) {
    const optional = name.endsWith("?");
    const field = optional ? name.slice(0, -1) : name;
    const member = record[field];
    if (member === undefined && optional) continue;
    if (!hasType(member, type)) {
      throw new OnexError(ErrorCode.ValidationFailed, `the ${what}'s ${field} must be a ${type}`, { instancePath: `/${field}` });
    }
  }
}

function hasType(value: unknown, type: FieldType): boolean {
  switch (type) {
    case "string[]":
      return Array.isArray(value) && value.every((item) => typeof item === "string");
    case "object":
      return value !== null && typeof value === "object" && !Array.isArray(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    default:
      return typeof value === type;
  }
}
