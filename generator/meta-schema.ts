/** Validation of manifests against the manifest meta-schema that ships in schemas/. */
import { join } from "node:path";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { commonJsDefault } from "@onex/runtime";
import { ErrorCode } from "@onex/runtime";
import { closestName } from "./did-you-mean.js";
import { PACKAGE_ROOT } from "./package-root.js";
import type { Problem } from "./problems.js";
import { pointerSegments, readYamlFile, type YamlFile } from "./yaml-file.js";

const addFormats = commonJsDefault(addFormatsModule);

/** Where the manifest meta-schema lives in the package. */
export const MANIFEST_META_SCHEMA = join(PACKAGE_ROOT, "schemas", "manifest.schema.yaml");

/**
 * An ajv instance for generation-time work: draft 2020-12, strict, with formats. `process`
 * replaces the code ajv evaluates for each schema it compiles (ajv's `code.process`); the
 * standalone code it emits stays the code it generated.
 */
export function createAjv(options: { strict?: boolean; allErrors?: boolean; process?: (code: string) => string } = {}): Ajv2020 {
  // inlineRefs: false keeps each named schema one function that others call, instead of a copy
  // in every validator that references it: generated code is several times smaller.
  // `lines` puts each statement of ajv's standalone code on its own line, so generated
  // validators can be reviewed and diffed.
  // optimize: false skips ajv's pass over the generated code that drops unused variables and
  // empty blocks: it recounts every name of every nested block, and a payload's properties
  // nest one inside the other, so it costs time quadratic in their number (over a third of
  // compiling the 200-message synthetic manifest's validators). The code it leaves is ~7%
  // larger and accepts and rejects exactly the same data (test/conformance runs the JSON
  // Schema suite through it).
  const ajv = new Ajv2020({
    strict: options.strict ?? true,
    allErrors: options.allErrors ?? false,
    verbose: options.allErrors ?? false,
    inlineRefs: false,
    logger: false,
    code: { source: true, esm: true, lines: true, optimize: false, ...(options.process ? { process: options.process } : {}) },
  });
  addFormats(ajv);
  return ajv;
}

let manifestValidator: Promise<ValidateFunction> | undefined;

function loadManifestValidator(): Promise<ValidateFunction> {
  // Every error at once (allErrors), with the schema each came from (verbose), so one run reports every mistake with a suggestion.
  manifestValidator ??= readYamlFile(MANIFEST_META_SCHEMA, "schemas/manifest.schema.yaml").then((meta) =>
    createAjv({ allErrors: true }).compile(meta.value as object),
  );
  return manifestValidator;
}

/**
 * Every way `manifest` breaks the meta-schema, each located at the offending key (an unknown
 * or misspelt key, a bad record name) or value, with ONEX_E_MANIFEST_INVALID; [] when it fits.
 */
export async function manifestProblems(manifest: YamlFile): Promise<Problem[]> {
  if (manifest.value === null || manifest.value === undefined) {
    return [{ code: ErrorCode.ManifestInvalid, file: manifest.file, line: 1, column: 1, message: "the manifest is empty; it needs at least version, compatible_with, declared_by, schema_manifest_url, changelog, envelope, subjects and messages (see docs/manifest.md)" }];
  }
  return shapeProblems(manifest, await loadManifestValidator(), ErrorCode.ManifestInvalid, "manifest");
}

/**
 * Every way `yaml` breaks the meta-schema `validate` was compiled from (with createAjv's
 * `allErrors`), each with `code` at the offending key or value; [] when it fits. `noun` names
 * the kind of file in messages ("manifest", "transform").
 */
export function shapeProblems(yaml: YamlFile, validate: ValidateFunction, code: ErrorCode, noun: string): Problem[] {
  if (validate(yaml.value)) return [];
  const errors = validate.errors!;
  const problems: Problem[] = [];
  const add = (where: { file: string; line?: number; column?: number }, message: string, error: ErrorObject) =>
    problems.push({ code, file: where.file, line: where.line, column: where.column, message, instancePath: error.instancePath, schemaPath: error.schemaPath });
  // anyOf/oneOf report every failed branch too; the combinator's own error says it once.
  const combinatorAt = new Set(errors.filter((e) => e.keyword === "anyOf" || e.keyword === "oneOf").map((e) => e.instancePath));
  const inBranch = (error: ErrorObject) => /\/(anyOf|oneOf)\/\d+\//.test(error.schemaPath) && combinatorAt.has(error.instancePath);
  const nameErrors = errors.filter((e) => e.keyword === "propertyNames");
  const unknownKeys = errors.filter((e) => e.keyword === "additionalProperties");
  /** The unknown key at `instancePath` that is probably `wanted` misspelt. */
  const misspelling = (instancePath: string, wanted: string) =>
    unknownKeys.find((e) => e.instancePath === instancePath && closestName(String(e.params.additionalProperty), [wanted]) === wanted);

  for (const error of errors) {
    if (inBranch(error)) continue;
    const path = pointerSegments(error.instancePath);
    const field = error.instancePath || "(root)";
    switch (error.keyword) {
      case "additionalProperties": {
        const key = String(error.params.additionalProperty);
        const known = Object.keys(((error.parentSchema as { properties?: object } | undefined)?.properties ?? {}) as object);
        const required = ((error.parentSchema as { required?: string[] } | undefined)?.required ?? []).filter((r) => !Object.hasOwn(error.data as object, r));
        const meant = closestName(key, required) ?? closestName(key, known);
        const hint = meant ? `; did you mean "${meant}"?${required.includes(meant) ? ` ("${meant}" is required and missing)` : ""}` : known.length > 0 ? ` (known keys: ${known.join(", ")})` : "";
        add(yaml.locateKey([...path, key]), `unknown key "${key}" in ${field}${hint}`, error);
        break;
      }
      case "required": {
        const missing = String(error.params.missingProperty);
        // A misspelt key is reported once, at the misspelling, naming what was meant.
        if (misspelling(error.instancePath, missing)) break;
        add(yaml.locate(path), `${field} is missing required key "${missing}"`, error);
        break;
      }
      case "propertyNames": {
        const key = String(error.params.propertyName);
        const inner = errors.find((e) => e !== error && e.instancePath === error.instancePath && e.data === key);
        add(yaml.locateKey([...path, key]), `key "${key}" of ${field} is not a valid name: it ${inner?.message ?? "is invalid"}`, error);
        break;
      }
      case "uniqueItems": {
        const j = Number(error.params.j);
        const i = Number(error.params.i);
        add(yaml.locate([...path, Math.max(i, j)]), `${field} lists ${JSON.stringify((error.data as unknown[])[Math.max(i, j)])} twice (items ${Math.min(i, j)} and ${Math.max(i, j)})`, error);
        break;
      }
      default: {
        // The inner error of a propertyNames failure is about the key, and reported with it.
        if (nameErrors.some((e) => e.instancePath === error.instancePath && e.params.propertyName === error.data)) break;
        const extra = error.keyword === "enum" ? ` ${JSON.stringify(error.params.allowedValues)}` : "";
        const description = typeof (error.parentSchema as { description?: unknown } | undefined)?.description === "string" ? ` (${(error.parentSchema as { description: string }).description})` : "";
        const value = error.data === undefined || typeof error.data === "object" ? "" : ` ${JSON.stringify(error.data)}`;
        add(yaml.locate(path), `${noun} ${field}${value} ${error.message}${extra}${error.keyword === "pattern" || error.keyword === "enum" ? description : ""}${emptyHint(error)}`, error);
      }
    }
  }
  return problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}

/**
 * What to write instead of a key left empty: YAML reads `new_types:` with nothing after it as
 * null, which "must be array" alone does not explain (a list emptied by deleting its items).
 */
function emptyHint(error: ErrorObject): string {
  if (error.keyword !== "type" || error.data !== null) return "";
  const none = error.params.type === "array" ? "; write [] for an empty list" : error.params.type === "object" ? "; write {} for an empty map" : "";
  return ` (it is empty: YAML reads a key with nothing after it as null${none})`;
}
