/**
 * Validators compiled at generation time with ajv's standalone code, so importing the SDK
 * compiles no schema. ajv emits `require()` for its run-time helpers even in ESM mode; those
 * calls are rewritten to imports from the runtime's codegen entry point.
 */
import standaloneModule from "ajv/dist/standalone/index.js";
import { ErrorCode, OnexError, commonJsDefault } from "@onex/runtime";
import { runtimeImportLine } from "./codegen-symbols.js";
import type { SchemaSource } from "./load-version.js";
import { _, Name, str, type Ajv2020, type KeywordCxt, type ValidateFunction } from "ajv/dist/2020.js";
import names from "ajv/dist/compile/names.js";
import { createAjv } from "./meta-schema.js";
import { schemaIdOf, type JsonSchema, type VersionModel } from "./model.js";
import { mapSchemaRefs } from "./model-refs.js";
import { pointerSegments } from "./yaml-file.js";
import { formatWhere } from "./problems.js";
import { addJsonCheckKeyword, withJsonChecks } from "./json-checks.js";
import { outputCheckId, outputCheckSchema } from "./transforms/same-schema-members.js";

const standalone = commonJsDefault(standaloneModule);

/**
 * Blocks a validator may open and still be left unevaluated (see `notEvaluated`). V8's parser
 * overflows its stack somewhere above 3,000 nested blocks; a function with at most this many
 * `{` cannot nest deeper than this. The validators of the 200-message synthetic manifest open
 * at most 430 each.
 */
const MAX_BLOCKS_UNEVALUATED = 1000;

/**
 * ajv evaluates the code of every schema it compiles (`new Function`), but onex only emits
 * that code (standaloneCode takes it from `validate.source`, kept before this step) and never
 * calls the functions; parsing them was ~10% of compiling a large version. Code that could
 * nest deeply is still evaluated, so a validator too deep for V8's parser is refused here
 * (the RangeError below) rather than when the SDK is imported.
 */
function notEvaluated(code: string): string {
  let blocks = 0;
  for (let at = code.indexOf("{"); at !== -1; at = code.indexOf("{", at + 1)) {
    if (++blocks > MAX_BLOCKS_UNEVALUATED) return code;
  }
  return "return function notEvaluated() { throw new Error(\"onex generate emits this validator's code; it does not run it\"); };";
}

/**
 * Makes V8 copy a string built by many concatenations (a rope) into one piece now. ajv builds
 * each validator's code from thousands of small strings; copied while they are young they die
 * young, instead of being promoted by the collector and walked only when the whole file is put
 * together. On the 200-message synthetic manifest that walk took ~40 ms and the compile ~90 ms
 * more, of ~950 ms a run. Converting a string to a number flattens it first (and fails at once
 * on code); elsewhere than V8 this is a harmless no-op.
 */
function flatten(code: string | undefined): void {
  if (code !== undefined) Number(code);
}

let metaSchema: ValidateFunction | undefined;

/**
 * The JSON Schema 2020-12 meta-schema every named schema is checked with, compiled once per
 * process: an ajv instance compiles it anew the first time it checks a schema (10-20 ms, for
 * every version), and each version's validators need an instance of their own. Kept out of
 * that instance, it also leaves the names ajv numbers in the emitted code (`validate0`,
 * `schema0`, ...) independent of the meta-schema's own functions.
 */
function metaSchemaValidator(): ValidateFunction {
  if (!metaSchema) {
    const ajv = createAjv();
    metaSchema = ajv.getSchema(ajv.defaultMeta() as string)!;
  }
  return metaSchema;
}

/**
 * The check a migration step into this version runs on its output: message `name` (of type
 * `type`) as reached from version `from`, whose members `unchanged` have the same schema in
 * both versions (see transforms/same-schema-members.ts).
 */
export interface OutputCheckRequest {
  from: string;
  type: string;
  name: string;
  unchanged: string[];
}

/** Emits the body of validators.ts (without header). */
export function emitValidators(model: VersionModel, sources: Map<string, SchemaSource>, runtimeImport: string): string {
  const checkSchema = metaSchemaValidator();
  // Everything this instance compiles is a named schema of the version: code to emit, not to run.
  const ajv = createAjv({ process: notEvaluated });
  addJsonCheckKeyword(ajv);
  for (const s of model.schemas) {
    const schema = { $id: schemaIdOf(model, s.name), ...toAjvRefs(model, s.schema) };
    if (!checkSchema(schema)) {
      const issue = checkSchema.errors![0]!;
      throw schemaError(sources, s.name, pointerSegments(issue.instancePath), `${issue.instancePath || "(root)"} ${issue.message}`);
    }
    // Checked just above, with a located error: ajv need not check it against the meta-schema
    // again. What it compiles also refuses what is not JSON data where the schema leaves a value free.
    ajv.addSchema(withJsonChecks(schema), undefined, undefined, false);
  }
  // Records and payloads first, so an error inside one is reported at its own file, not
  // at the first message that references it.
  const KIND_ORDER = { record: 0, payload: 1, message: 2 } as const;
  for (const s of [...model.schemas].sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind])) {
    try {
      flatten(ajv.getSchema(schemaIdOf(model, s.name))?.source?.validateCode);
    } catch (cause) {
      if (cause instanceof RangeError) {
        // ajv's generated code for this schema is too deep for the stack; its message would only say so, with the code attached.
        const yaml = sources.get(s.name)?.yaml;
        const where = yaml ? yaml.locate([]) : { file: s.name };
        throw new OnexError(ErrorCode.SchemaTooLarge, `${formatWhere(where)}: schema ${s.name} is too large for onex to compile a validator for; split it into records`, { ...where, schema: s.name }, { cause });
      }
      const message = (cause as Error).message.replace(/^strict mode: /, "");
      const { path, key } = locateInSchema(s.schema, message);
      throw schemaError(sources, s.name, path, message, cause, key);
    }
  }
  const refs = Object.fromEntries(model.schemas.map((s) => [`raw${s.name}`, schemaIdOf(model, s.name)]));
  // Exported under the manifest name through an alias: a local binding named `Object` or
  // `Math` would shadow the global that ajv's code calls.
  const typed = model.schemas
    .map((s) => `/** Validates a \`${s.name}\` (${s.kind}); a type guard for its data. */\nconst validate${s.name}: StandaloneValidator<$T.${s.name}> = raw${s.name};`)
    .join("\n");
  const exports = model.schemas.map((s) => `  validate${s.name} as ${s.name},`).join("\n");
  return [
    "// @ts-nocheck -- ajv standalone output; the typed exports are at the end of the file.",
    'import type * as $T from "./types.js";',
    standaloneValidatorSource(ajv, refs, runtimeImport).replace(/export const (raw\w+) = /g, "const $1 = "),
    "",
    typed,
    "",
    `export {\n${exports}\n};`,
    "",
  ].join("\n");
}

const N = commonJsDefault(names);

/**
 * Emits step-output-checks.ts: what a migration step into this version checks of its output,
 * by source version and type (runtime/transform.ts, OutputCheck). A module of its own, loaded
 * with the transforms only, so the SDK's validators stay as they are. Members that are a
 * named schema call that schema's validator from validators.ts (the `onexValidator` keyword
 * below) rather than carrying a second copy of it.
 */
export function emitStepOutputChecks(model: VersionModel, checks: readonly OutputCheckRequest[], runtimeImport: string): string {
  // The version's schemas were checked against the meta-schema by emitValidators.
  const ajv = createAjv({ process: notEvaluated });
  ajv.addKeyword({
    keyword: "onexValidator",
    schemaType: "string",
    // A failed check only sends the output to the full validator, which reports the error.
    // The member's place goes with it: the JSON-data checks count a free part's nesting from
    // the message's root (ajv-runtime.ts), so a payload validated as a root of its own allowed
    // one level more than the full validator and than parseJson reads back.
    code: (cxt: KeywordCxt) => cxt.fail(_`!${new Name(VALIDATORS)}.${new Name(cxt.schema as string)}(${cxt.data}, {${N.instancePath}: ${str`${N.instancePath}${cxt.it.errorPath}`}})`),
  });
  for (const s of model.schemas) ajv.addSchema({ $id: schemaIdOf(model, s.name), ...toAjvRefs(model, s.schema) }, undefined, undefined, false);
  // Called on its own, a validator starts a dynamic scope of its own: no check is made for a
  // version that uses the dynamic scope (sameSchemaMembers), so none is called from one here.
  for (const check of checks) {
    const schema = outputCheckSchema(model, check.name, check.unchanged);
    const properties = schema.properties as Record<string, unknown>;
    for (const [member, subschema] of Object.entries(properties)) {
      const named = namedRef(model, subschema);
      if (named !== undefined) properties[member] = { onexValidator: named };
    }
    ajv.addSchema({ $id: outputCheckId(model, check.name, check.from), ...toAjvRefs(model, schema) }, undefined, undefined, false);
  }
  const refs = Object.fromEntries(checks.map((check, i) => [`check${i}`, outputCheckId(model, check.name, check.from)]));
  const byFrom = new Map<string, string[]>();
  checks.forEach((check, i) => {
    // Member by member with constant names, which V8 reads as fast as a property access.
    const same = check.unchanged.map((member) => `output[${JSON.stringify(member)}] === input[${JSON.stringify(member)}]`).join(" && ");
    byFrom.set(check.from, [...(byFrom.get(check.from) ?? []), `    ${JSON.stringify(check.type)}: { validate: check${i}, unchanged: (output, input) => ${same} },`]);
  });
  const table = [...byFrom].map(([from, entries]) => `  ${JSON.stringify(from)}: {\n${entries.join("\n")}\n  },`).join("\n");
  return [
    "// @ts-nocheck -- ajv standalone output; the typed export is at the end of the file.",
    checks.length === 0 ? "" : `import * as ${VALIDATORS} from "./validators.js";\n${standaloneValidatorSource(ajv, refs, runtimeImport).replace(/export const (check\d+) = /g, "const $1 = ")}`,
    "",
    "/** By source version and type: the message's validator without the members both versions give the same schema, and whether a step passed each of those on as it read it. */",
    `export const stepOutputChecks: { readonly [from: string]: { readonly [type: string]: { readonly validate: (value: unknown) => boolean; readonly unchanged: (output: Record<string, unknown>, input: Record<string, unknown>) => boolean } } } = {${table === "" ? "" : `\n${table}\n`}};`,
    "",
  ].join("\n");
}

/** What step-output-checks.ts imports validators.ts as: `$` starts no name ajv's code uses. */
const VALIDATORS = "$validators";

/** The schema `subschema` only refers to, by name (`{ $ref: "onex:Name" }` and nothing else). */
function namedRef(model: VersionModel, subschema: unknown): string | undefined {
  if (subschema === null || typeof subschema !== "object" || Object.keys(subschema).length !== 1) return undefined;
  const match = /^onex:([A-Za-z0-9]+)$/.exec(String((subschema as { $ref?: unknown }).$ref));
  return match && model.schemas.some((s) => s.name === match[1]) ? match[1] : undefined;
}

/**
 * ajv's standalone code for `refs` (export name -> schema id) as an ES module that imports
 * its helpers from `runtimeImport` and calls no `require()`. This is the one path every
 * generated validator takes, also used by the JSON Schema conformance test, which loads
 * the module as plain JavaScript (`language: "js"`): there the type-only import is left out.
 */
export function standaloneValidatorSource(
  ajv: Ajv2020,
  refs: Record<string, string>,
  runtimeImport: string,
  options: { language?: "ts" | "js" } = {},
): string {
  const code = rewriteRequires(standalone(ajv, refs));
  const names = options.language === "js" ? ["ajvFormats", "ajvRuntime"] : ["ajvFormats", "ajvRuntime", "StandaloneValidator"];
  return [runtimeImportLine(runtimeImport, names), "", code.replace(/^"use strict";/, "")].join("\n");
}

function toAjvRefs(model: VersionModel, schema: JsonSchema): JsonSchema {
  return mapSchemaRefs(schema, (ref) => {
    const match = /^onex:([A-Za-z0-9]+)(?:#(.*))?$/s.exec(ref);
    return match ? schemaIdOf(model, match[1]!) + (match[2] ? `#${match[2]}` : "") : ref;
  });
}

const RUNTIME_HELPER = /require\("ajv\/dist\/runtime\/([a-z0-9_]+)"\)\.default/g;
const FORMATS = /require\("ajv-formats\/dist\/formats"\)\.fullFormats/g;

function rewriteRequires(code: string): string {
  const out = code.replace(RUNTIME_HELPER, (_m, helper: string) => {
    if (!["equal", "ucs2length"].includes(helper)) {
      throw new OnexError(ErrorCode.Internal, `ajv standalone code needs runtime helper "${helper}", which @onex/runtime/codegen-v1 does not provide`);
    }
    return `ajvRuntime.${helper}`;
  }).replace(FORMATS, "ajvFormats");
  const left = /require\([^)]*\)/.exec(out);
  if (left) throw new OnexError(ErrorCode.Internal, `ajv standalone code still calls ${left[0]} after rewriting`);
  return out;
}

/** Finds where a compile error points: a schema path in the message, or the unknown keyword's first use (`key`: the keyword itself, not its value). */
function locateInSchema(schema: JsonSchema, message: string): { path: (string | number)[]; key: boolean } {
  // ajv names the subschema of an unknown format ("#" for the root): the mistake is its `format` value.
  const format = /^unknown format ".*" ignored in schema at path "#(\/[^"\s]*)?"/.exec(message);
  if (format) return { path: [...pointerSegments(format[1] ?? ""), "format"], key: false };
  const at = /#(\/[^"\s]*)"/.exec(message);
  if (at) return { path: pointerSegments(at[1]!), key: false };
  const keyword = /keyword: "([^"]+)"/.exec(message)?.[1];
  if (!keyword) return { path: [], key: false };
  const search = (node: unknown, path: (string | number)[]): (string | number)[] | undefined => {
    if (node === null || typeof node !== "object") return undefined;
    for (const [key, value] of Object.entries(node)) {
      if (key === keyword) return [...path, key];
      const found = search(value, [...path, Array.isArray(node) ? Number(key) : key]);
      if (found) return found;
    }
    return undefined;
  };
  const found = search(schema, []);
  return found ? { path: found, key: true } : { path: [], key: false };
}

function schemaError(sources: Map<string, SchemaSource>, name: string, path: (string | number)[], fullMessage: string, cause?: unknown, key = false): OnexError {
  // ajv may append the code it generated to a message: a person needs its first line only.
  const firstLine = fullMessage.split("\n")[0]!;
  const message = firstLine.length > 300 ? `${firstLine.slice(0, 300)}…` : firstLine;
  const yaml = sources.get(name)?.yaml;
  const where = yaml ? (key ? yaml.locateKey(path) : yaml.locate(path)) : { file: name };
  return new OnexError(
    ErrorCode.SchemaInvalid,
    `${formatWhere(where)}: schema ${name} is not valid JSON Schema 2020-12 for onex: ${message}`,
    { ...where, schema: name },
    cause === undefined ? undefined : { cause },
  );
}
