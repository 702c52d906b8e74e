/** Running the generated standalone validators and reporting their failures. */
import { ErrorCode, OnexError } from "./errors.js";
import { setJsonMember } from "./json-member.js";

/** One failure as ajv reports it. */
export interface ValidationIssue {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** The shape of a validator ajv's standalone code emits: a type guard for the data type `T` of its schema. */
export interface StandaloneValidator<T = unknown> {
  (data: unknown): data is T;
  errors?: ValidationIssue[] | null;
}

/** What a validation failure concerns, for the error message and details. */
export interface ValidationContext {
  version: string;
  type?: string;
  schemaId: string;
}

/**
 * Whether `validate` accepts `value`. Integers beyond 2^53 are carried as BigInt (migrate and
 * validate read them exactly), which a validator's "integer" or "number" refuses; the schema is
 * asked about their value instead. Only on failure, and only for values holding one: the hot path
 * never walks a message twice.
 */
export function isValid(validate: (data: unknown) => boolean, value: unknown): boolean {
  return validate(value) || (holdsBigInt(value, 0) && validate(withNumbers(value)));
}

/** Validates `value`; throws ONEX_E_VALIDATION naming the failing schema path. */
export function assertValid(validate: Pick<StandaloneValidator, "errors"> & ((data: unknown) => boolean), value: unknown, context: ValidationContext): void {
  if (isValid(validate, value)) return;
  const issue = validate.errors?.[0];
  const instancePath = issue?.instancePath || "/";
  const schemaPath = issue?.schemaPath ?? "";
  const what = context.type ?? context.schemaId;
  const reason = describeIssue(issue);
  throw new OnexError(ErrorCode.ValidationFailed, `${what} (v${context.version}): ${instancePath} ${reason} [${schemaPath}]`, {
    version: context.version,
    type: context.type,
    schemaId: context.schemaId,
    instancePath,
    schemaPath,
    keyword: issue?.keyword,
    params: issue?.params,
  });
}

function describeIssue(issue: ValidationIssue | undefined): string {
  if (!issue) return "is invalid";
  const params = issue.params ?? {};
  if (issue.keyword === "additionalProperties") return `must not have property "${String(params.additionalProperty)}"`;
  if (issue.keyword === "enum") return `${issue.message}: ${JSON.stringify(params.allowedValues)}`;
  if (issue.keyword === "const") return `must equal ${JSON.stringify(params.allowedValue)}`;
  return issue.message ?? `fails "${issue.keyword}"`;
}

function holdsBigInt(value: unknown, depth: number): boolean {
  if (typeof value === "bigint") return true;
  if (value === null || typeof value !== "object" || depth > 1000) return false;
  for (const item of Array.isArray(value) ? value : Object.values(value)) if (holdsBigInt(item, depth + 1)) return true;
  return false;
}

/**
 * A copy of `value` with each BigInt as the nearest double. A bound within rounding distance of
 * such an integer (above 2^53) is judged on the rounded value; schemas' bounds are far below.
 */
function withNumbers(value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(withNumbers);
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    setJsonMember(out, key, withNumbers(item));
  }
  return out;
}
