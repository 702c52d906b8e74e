/** Checking subject templates from the manifest and the envelope fields that fill them. */
import { ErrorCode, OnexError } from "@onex/runtime";
import type { JsonSchema, SubjectModel } from "./model.js";
import { pointerSegments } from "./yaml-file.js";
import { formatWhere } from "./problems.js";
import { jsonPointer } from "./envelope-layout.js";

type Locate = (path: (string | number)[]) => { file: string; line?: number; column?: number };

const PLACEHOLDER = /^\{([a-z][a-z0-9_]*)\}$/;
const LITERAL = /^[^\s.*>{}]+$/;

/**
 * Splits a template such as `jetstream.onex.zone.{zone_id}.events` into literal tokens and
 * placeholders. Each placeholder must be a whole token and have a param; every param must
 * be used. Throws ONEX_E_SUBJECT_PLACEHOLDER otherwise.
 */
export function parseSubjectTemplate(key: string, template: string, params: Record<string, string>, locate: Locate): SubjectModel {
  const fail = (message: string, path: (string | number)[] = ["template"]): never => {
    const where = locate(path);
    throw new OnexError(ErrorCode.SubjectPlaceholder, `${formatWhere(where)}: subject "${key}": ${message}`, { ...where, subject: template });
  };
  const used = new Set<string>();
  const tokens = template.split(".").map((token) => {
    const placeholder = PLACEHOLDER.exec(token);
    if (placeholder) {
      const param = placeholder[1]!;
      if (!(param in params)) fail(`placeholder {${param}} has no entry under params (known: ${Object.keys(params).join(", ") || "none"})`);
      if (used.has(param)) fail(`placeholder {${param}} is used twice`);
      used.add(param);
      return { param };
    }
    if (token.includes("{") || token.includes("}")) fail(`"${token}" mixes a placeholder with literal text; a placeholder must be a whole token`);
    if (!LITERAL.test(token)) fail(`"${token}" is not a valid NATS subject token`);
    return token;
  });
  for (const param of Object.keys(params)) if (!used.has(param)) fail(`param "${param}" is not used by the template`, ["params", param]);
  const paramPaths = Object.fromEntries(Object.keys(params).sort().map((p) => [p, pointerSegments(params[p]!)]));
  return { key, template, tokens, params: paramPaths };
}

/**
 * Checks that each param points at a required string field of the envelope, following
 * references into records. Throws ONEX_E_SUBJECT_PARAM otherwise.
 */
export function resolveSubjectParams(subject: SubjectModel, envelope: JsonSchema, schemas: Map<string, JsonSchema>, locate: Locate): void {
  for (const [param, path] of Object.entries(subject.params)) {
    let node: JsonSchema | undefined = envelope;
    for (const segment of path) {
      node = deref(node, schemas);
      const properties = node?.properties as Record<string, JsonSchema> | undefined;
      const required = (node?.required as string[] | undefined) ?? [];
      node = properties?.[segment];
      if (!node || !required.includes(segment)) {
        node = undefined;
        break;
      }
    }
    node = node && deref(node, schemas);
    if (!node || node.type !== "string") {
      const where = locate(["params", param]);
      throw new OnexError(
        ErrorCode.SubjectParam,
        `${formatWhere(where)}: subject "${subject.key}" param "${param}" must point at a required string field of the envelope, but /${path.join("/")} is not one`,
        { ...where, subject: subject.template },
      );
    }
  }
}

function deref(node: JsonSchema | undefined, schemas: Map<string, JsonSchema>): JsonSchema | undefined {
  for (let hops = 0; node && typeof node.$ref === "string" && hops < 16; hops++) {
    const ref = node.$ref as string;
    const match = /^onex:([^#]+)(?:#(.*))?$/.exec(ref);
    let target: unknown = match ? schemas.get(match[1]!) : undefined;
    for (const segment of match?.[2] ? pointerSegments(match[2]) : []) target = (target as JsonSchema | undefined)?.[segment];
    node = target as JsonSchema | undefined;
  }
  return node;
}

/** The template with each placeholder written as the envelope field it reads (`{/source/zone}`): what decides the subjects, whatever the placeholders are named. */
export function resolvedTemplate(subject: SubjectModel): string {
  return subject.template.replace(/\{([^}]+)\}/g, (_, param: string) => `{${jsonPointer(subject.params[param] ?? [])}}`);
}
