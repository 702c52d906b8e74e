/** `onex generate`: every protocol version in the schemas folder -> the typed SDK in the output folder. */
import { createHash } from "node:crypto";
import { ErrorCode, OnexError } from "@onex/runtime";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { DEFAULT_RUNTIME_IMPORT } from "./codegen-symbols.js";
import { asyncApiDocument, formatAsyncApi, type AsyncApiFormat } from "./asyncapi/asyncapi-document.js";
import { emitSchemaIndex } from "./emit-schema-index.js";
import { emitTypes } from "./emit-types.js";
import { emitStepOutputChecks, emitValidators, type OutputCheckRequest } from "./emit-validators.js";
import { loadVersion, type LoadedVersion } from "./load-version.js";
import type { VersionModel } from "./model.js";
import { Problems } from "./problems.js";
import { requireVersionsIn } from "./protocol-versions.js";
import { PACKAGE_VERSION } from "./package-root.js";
import { loadTemplates, type RenderFn } from "./templates.js";
import { emitTransforms, TRANSFORM_TEMPLATES } from "./transforms/emit-adapters.js";
import { loadTransforms, type TransformModel } from "./transforms/load-transforms.js";
import { sameSchemaMembers } from "./transforms/same-schema-members.js";
import { versionView } from "./views.js";
import { readYamlFile } from "./yaml-file.js";
import { applyOutput, diffOutput, type FileDifference } from "./writer.js";
import { isWithin, realPathOf } from "./path-within.js";

export interface GenerateOptions {
  /** Folder holding one `v<version>/manifest.yaml` per protocol version. */
  schemasDir: string;
  /** Folder the SDK is written to. */
  outDir: string;
  /** Folder whose templates override the bundled ones, file by file. */
  templatesDir?: string;
  /** Module specifier generated code imports the runtime from. */
  runtimeImport?: string;
  /** Compare with the output folder instead of writing. */
  check?: boolean;
  /** Also write `v<version>/asyncapi.<format>` per version (off when unset). */
  asyncapi?: AsyncApiFormat;
}

export interface GenerateResult {
  versions: string[];
  /** Every generated file, relative path -> content. */
  files: Map<string, string>;
  /** Files that differed (and were written, unless `check`). */
  differences: FileDifference[];
  /** Adjacent versions with no transform between them (`to` has no `from-v<from>.yaml`): migrate and negotiation cannot cross there. */
  gaps: { from: string; to: string }[];
}

const VERSION_TEMPLATES = ["manifest.ts.hbs", "subjects.ts.hbs", "messages.ts.hbs", "index.ts.hbs"] as const;

/** Generates the SDK for every version; writes it, or with `check` only reports differences. */
export async function generate(options: GenerateOptions): Promise<GenerateResult> {
  const schemasDir = resolve(options.schemasDir);
  const outDir = resolve(options.outDir);
  const runtimeImport = options.runtimeImport ?? DEFAULT_RUNTIME_IMPORT;
  if (runtimeImport === "." || runtimeImport.startsWith("./")) {
    // Written as given into the files that import the runtime, all one folder below the output
    // (v<version>/, transforms/): "./" named a different file from each of those folders.
    throw new OnexError(ErrorCode.Usage, `--runtime-import ${runtimeImport} would be resolved from each folder generated code is in (v<version>/, transforms/); a relative specifier starts one folder up: ../${runtimeImport.slice(2)} names ${join(options.outDir, runtimeImport.slice(2))}`, { runtimeImport });
  }
  if (isWithin(realPathOf(outDir), realPathOf(schemasDir))) {
    // Generated files there would be read back as schema files, or a version folder as a folder of generated code.
    throw new OnexError(ErrorCode.Usage, `the output folder ${options.outDir} is inside the schemas folder ${options.schemasDir}; write the SDK beside it (the default is generated/)`, { out: options.outDir, schemas: options.schemasDir });
  }
  const render = await loadTemplates([...VERSION_TEMPLATES, "versions.ts.hbs", ...TRANSFORM_TEMPLATES], options.templatesDir, {
    globals: { generatorVersion: PACKAGE_VERSION, generatorOptions: describeOptions(options, runtimeImport, dirname(schemasDir)) },
  });

  const versions = await requireVersionsIn(schemasDir);
  // Every version is loaded and emitted even when an earlier one fails, so one run reports
  // the mistakes of all of them (in version order, so the report reads the same every time).
  const problems = new Problems();
  const loaded: LoadedVersion[] = [];
  for (const version of versions) {
    const one = await problems.collect(() => loadVersion(schemasDir, `v${version}`, dirname(schemasDir)));
    if (one) loaded.push(one);
  }
  // A version's schema ids and its messages' protocol block are its schema_manifest_url's: a
  // v0.3 copied from v0.2 with the URL left as it was published other schemas under v0.2's ids.
  for (const [i, { model }] of loaded.entries()) {
    const earlier = loaded.slice(0, i).find((other) => other.model.schemaManifestUrl === model.schemaManifestUrl);
    if (earlier !== undefined) {
      // At the URL's own line, as every other manifest mistake is: the manifest is read again only here.
      const manifest = await readYamlFile(join(schemasDir, model.id, "manifest.yaml"), model.manifestFile);
      problems.add(ErrorCode.ManifestInvalid, manifest.locate(["schema_manifest_url"]), `schema_manifest_url ${model.schemaManifestUrl} is v${earlier.model.version}'s too: give v${model.version} its own (its schema ids are built under it)`, { version: model.version, other: earlier.model.version });
    }
  }
  // Transforms connect adjacent versions: they can only be checked when every version loaded.
  problems.throwIfAny();

  // Version transforms (schemas/vX/from-vY.yaml) -> generated/transforms/. Loaded before the
  // versions are emitted, as each version's step-output-checks.ts holds the checks of the steps
  // into it; their problems are reported after the versions', as the versions come first.
  const models = loaded.map(({ model }) => model);
  const transformProblems = new Problems();
  const transforms = await transformProblems.collect(() => loadTransforms(schemasDir, models, dirname(schemasDir)));
  const checks = outputChecks(transforms ?? [], models);

  const files = new Map<string, string>();
  for (const version of loaded) {
    await problems.collect(async () => {
      for (const [name, content] of await emitVersion(version, render, runtimeImport, checks.get(version.model.version))) files.set(`${version.model.id}/${name}`, content);
      if (options.asyncapi) {
        const document = asyncApiDocument(version.model, { generatedBy: "onex generate" });
        files.set(`${version.model.id}/asyncapi.${options.asyncapi}`, formatAsyncApi(document, options.asyncapi));
      }
    });
  }
  for (const problem of transformProblems.list) problems.add(problem.code, problem, problem.message, problem);
  problems.throwIfAny();
  for (const [name, content] of emitTransforms(transforms!, models, render, runtimeImport)) files.set(name, content);

  const combined = createHash("sha256");
  for (const { model } of loaded) combined.update(`${model.id}\0${model.hash}\0`);
  files.set(
    "versions.ts",
    render("versions.ts.hbs", {
      manifestFile: `${basename(schemasDir)}/*/manifest.yaml`,
      hash: combined.digest("hex"),
      versions: loaded.map(({ model }) => ({ version: model.version, id: model.id })),
    }),
  );

  const differences = await diffOutput(outDir, files);
  if (!options.check) await applyOutput(outDir, files, differences);
  const generated = loaded.map(({ model }) => model.version);
  const gaps = generated.slice(1).map((to, i) => ({ from: generated[i]!, to })).filter(({ from, to }) => !transforms!.some((t) => t.from === from && t.to === to));
  return { versions: generated, files, differences, gaps };
}

/**
 * The options that shape the output, as headers name them: the same options give the same
 * text on every machine (a templates folder is shown relative to the schemas folder's parent).
 */
function describeOptions(options: GenerateOptions, runtimeImport: string, displayRoot: string): string {
  const templates = options.templatesDir === undefined ? "bundled" : relative(displayRoot, resolve(options.templatesDir)).split(sep).join("/") || ".";
  return [`runtime-import=${runtimeImport}`, `templates=${templates}`, ...(options.asyncapi ? [`asyncapi=${options.asyncapi}`] : [])].join(", ");
}

/**
 * The output checks of every step, by the version the step writes: for each message type a
 * transform connects, the members both versions describe with the same schema.
 */
function outputChecks(transforms: readonly TransformModel[], models: readonly VersionModel[]): Map<string, OutputCheckRequest[]> {
  const byVersion = new Map(models.map((m) => [m.version, m]));
  const checks = new Map<string, OutputCheckRequest[]>(models.map((m) => [m.version, []]));
  for (const t of transforms) {
    const older = byVersion.get(t.from)!;
    const newer = byVersion.get(t.to)!;
    for (const type of t.types.keys()) {
      const olderName = older.messages.find((m) => m.type === type)!.name;
      const newerName = newer.messages.find((m) => m.type === type)!.name;
      const unchanged = sameSchemaMembers(older, olderName, newer, newerName);
      if (unchanged.length === 0) continue;
      checks.get(t.to)!.push({ from: t.from, type, name: newerName, unchanged });
      checks.get(t.from)!.push({ from: t.to, type, name: olderName, unchanged });
    }
  }
  return checks;
}

async function emitVersion({ model, sources }: LoadedVersion, render: RenderFn, runtimeImport: string, checks: readonly OutputCheckRequest[] = []): Promise<[string, string][]> {
  const types = await emitTypes(model);
  const view = versionView(model, runtimeImport, types.nestedNames);
  const header = render("header.hbs", view).replace(/\n+$/, "");
  const out: [string, string][] = [
    ["types.ts", `${header}\n\n${types.source}`],
    ["validators.ts", `${header}\n${emitValidators(model, sources, runtimeImport)}`],
    ["step-output-checks.ts", `${header}\n${emitStepOutputChecks(model, checks, runtimeImport)}`],
  ];
  for (const template of VERSION_TEMPLATES) out.push([template.replace(/\.hbs$/, ""), render(template, view)]);
  // What the deployment publishes for version probing (runtime/negotiation).
  out.push(["index.json", emitSchemaIndex(model)]);
  return out;
}

