/** Running the generated standalone validators and reporting their failures. */
import { ErrorCode, OnexError } from "./errors.js";

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

/** Validates `value`; throws ONEX_E_VALIDATION naming the failing schema path. */
export function assertValid(validate: Pick<StandaloneValidator, "errors"> & ((data: unknown) => boolean), value: unknown, context: ValidationContext): void {
  if (validate(value)) return;
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
