/** Validation of manifests against the manifest meta-schema that ships in schemas/. */
import { join } from "node:path";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { commonJsDefault } from "../runtime/commonjs.js";
import { ErrorCode, OnexError } from "../runtime/errors.js";
import { PACKAGE_ROOT } from "./package-root.js";
import { pointerSegments, readYamlFile, type YamlFile } from "./yaml-file.js";

const addFormats = commonJsDefault(addFormatsModule);

/** Where the manifest meta-schema lives in the package. */
export const MANIFEST_META_SCHEMA = join(PACKAGE_ROOT, "schemas", "manifest.schema.yaml");

/** An ajv instance for generation-time work: draft 2020-12, strict, with formats. */
export function createAjv(options: { strict?: boolean } = {}): Ajv2020 {
  // inlineRefs: false keeps each named schema one function that others call, instead of a copy
  // in every validator that references it: generated code is several times smaller.
  const ajv = new Ajv2020({ strict: options.strict ?? true, allErrors: false, inlineRefs: false, code: { source: true, esm: true } });
  addFormats(ajv);
  return ajv;
}

let manifestValidator: Promise<ValidateFunction> | undefined;

function loadManifestValidator(): Promise<ValidateFunction> {
  manifestValidator ??= readYamlFile(MANIFEST_META_SCHEMA, "schemas/manifest.schema.yaml").then((meta) =>
    createAjv().compile(meta.value as object),
  );
  return manifestValidator;
}

/** Throws ONEX_E_MANIFEST_INVALID, located in the YAML, when `manifest` breaks the meta-schema. */
export async function assertManifestShape(manifest: YamlFile): Promise<void> {
  const validate = await loadManifestValidator();
  if (validate(manifest.value)) return;
  const issue = validate.errors![0]!;
  const path = pointerSegments(issue.instancePath);
  const where = manifest.locate(path);
  const field = issue.instancePath || "(root)";
  const extra =
    issue.keyword === "additionalProperties"
      ? ` "${String(issue.params.additionalProperty)}"`
      : issue.keyword === "enum"
        ? ` ${JSON.stringify(issue.params.allowedValues)}`
        : "";
  throw new OnexError(
    ErrorCode.ManifestInvalid,
    `${where.file}:${where.line ?? "?"}:${where.column ?? "?"}: manifest ${field} ${issue.message}${extra}`,
    { ...where, instancePath: issue.instancePath, schemaPath: issue.schemaPath },
  );
}
