/**
 * Loading one protocol version: manifest -> meta-schema check -> schema files -> resolved
 * references -> composed message schemas. The result is the VersionModel every emitter reads.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { ErrorCode, OnexError } from "@onex/runtime";
import { modelResolver } from "./diff/compare-schemas.js";
import { DATA_KEYWORDS, mapSchemaRefs, NAMED_SCHEMA_KEYWORDS } from "./model-refs.js";
import { didYouMean } from "./did-you-mean.js";
import { deriveEnvelopeLayout } from "./envelope-layout.js";
import { manifestProblems } from "./meta-schema.js";
import { SDK_TYPE_NAMES, type AutoKind, type JsonSchema, type MessageModel, type NamedSchema, type SubjectModel, type VersionModel } from "./model.js";
import { formatWhere, Problems } from "./problems.js";
import { checkEnvelopeFile, checkSchemaFile } from "./schema-file-checks.js";
import { compareVersions, versionsIn } from "./protocol-versions.js";
import { parseSubjectTemplate, resolveSubjectParams } from "./subject-template.js";
import { pascalCase } from "./views.js";
import { pointerSegments, readYamlFile, type YamlFile } from "./yaml-file.js";
import { outsideFolder } from "./path-within.js";

/** The manifest as the meta-schema guarantees it. */
interface ManifestDoc {
  version: string;
  compatible_with: string[];
  declared_by: string;
  schema_manifest_url: string;
  changelog: { change: string; why: string }[];
  envelope: string;
  auto?: Record<string, AutoKind>;
  subjects: Record<string, { template: string; params: Record<string, string> }>;
  records?: Record<string, string>;
  messages: { type: string; name: string; payload: string; subject: string }[];
}

/** A schema file together with where it came from, for located errors. */
export interface SchemaSource {
  yaml: YamlFile;
  /** The generated name of the file's root schema. */
  name: string;
}

export interface LoadedVersion {
  model: VersionModel;
  /** Source files by schema name (messages map to the envelope file). */
  sources: Map<string, SchemaSource>;
}

/**
 * Loads `schemasDir/<folder>/manifest.yaml`. `displayRoot` is the folder paths in errors and
 * headers are shown relative to. Every mistake of the manifest and its schema files is
 * reported in one OnexError (see problems.ts), each at its own `file:line:column`.
 */
export async function loadVersion(schemasDir: string, folder: string, displayRoot: string): Promise<LoadedVersion> {
  const versionDir = join(schemasDir, folder);
  const show = (abs: string) => relative(displayRoot, abs).split(sep).join("/");
  const problems = new Problems();
  const manifestPath = join(versionDir, "manifest.yaml");
  // Its values reach generated/ and its mistakes are quoted: a link to a file elsewhere would publish that file.
  const outside = outsideVersionFolder(versionDir, manifestPath);
  if (outside !== undefined) throw new OnexError(ErrorCode.ManifestInvalid, `${show(manifestPath)} ${outside}; a version's manifest is a file of its own folder`, { file: show(manifestPath), line: 1, column: 1 });
  const manifestYaml = await readYamlFile(manifestPath, show(manifestPath));
  for (const problem of await manifestProblems(manifestYaml)) problems.add(problem.code, problem, problem.message, problem);
  if (problems.size > 0) {
    // What follows reads the manifest's shape, which only the meta-schema guarantees; the
    // files it names can still be checked on their own, so their mistakes come in this run too.
    for (const [relPath, path, isEnvelope] of declaredFiles(manifestYaml.value)) {
      await checkDeclaredFile(versionDir, join(versionDir, relPath), isEnvelope, manifestYaml, path, show, problems);
    }
    problems.throwIfAny();
  }
  const manifest = manifestYaml.value as ManifestDoc;
  const at = (path: (string | number)[]) => manifestYaml.locate(path);
  const report = (code: ErrorCode, path: (string | number)[], message: string, extra: Record<string, unknown> = {}) => {
    const where = at(path);
    problems.add(code, { file: where.file, line: where.line, column: where.column }, message, extra);
  };

  if (folder !== `v${manifest.version}`) {
    report(ErrorCode.ManifestInvalid, ["version"], `version "${manifest.version}" does not match its folder ${folder} (expected v${manifest.version})`, { version: manifest.version });
  }

  // compatible_with promises that peers of this version still accept the versions it names:
  // only versions this schemas folder holds, and only older ones, have transforms to keep that promise.
  // Their age is judged only when the version is the folder's: after a wrong version it would follow from that mistake.
  const known = await versionsIn(schemasDir);
  manifest.compatible_with.forEach((other, i) => {
    if (!known.includes(other)) {
      // The same number spelt otherwise (0.2.0 for the folder v0.2): the protocol block carries the text as written, so it must be the folder's.
      const spelt = /^\d+(\.\d+)*$/.test(other) ? known.find((v) => compareVersions(v, other) === 0) : undefined;
      const hint = spelt === undefined ? "" : `; write it "${spelt}", as its folder v${spelt} spells it`;
      report(ErrorCode.ManifestInvalid, ["compatible_with", i], `compatible_with names v${other}, which is not a version of this schemas folder (${known.map((v) => `v${v}`).join(", ")})${hint}`, { version: manifest.version });
    } else if (folder === `v${manifest.version}` && compareVersions(other, manifest.version) >= 0) {
      report(ErrorCode.ManifestInvalid, ["compatible_with", i], `compatible_with names v${other}, which is not older than v${manifest.version}; a version can only stay compatible with earlier ones`, { version: manifest.version });
    }
  });

  // Names: records, then `<Message>` and `<Message>Payload` per message. All must be unique.
  const names = new Map<string, (string | number)[]>();
  /** Claims `name` for `path`; false (and reported) when it is taken. */
  const claim = (name: string, path: (string | number)[]): boolean => {
    const earlier = names.get(name);
    if (earlier) {
      report(ErrorCode.DuplicateName, path, `type name "${name}" is already used at line ${at(earlier).line}`, { name });
      return false;
    }
    names.set(name, path);
    return true;
  };
  // Names the SDK module defines itself, and `<Subject>SubjectParts`, would be shadowed or
  // clash in the module's exports; every other name is safe, since generated code imports
  // what it uses under `$` names (see templates/messages.ts.hbs).
  const reserved = new Map<string, string>([
    ...SDK_TYPE_NAMES.map((n) => [n, "a name every generated SDK defines"] as [string, string]),
    ...Object.keys(manifest.subjects).map((key) => [`${pascalCase(key)}SubjectParts`, `the parts type of subject "${key}"`] as [string, string]),
  ]);
  const refuseReserved = (name: string, path: (string | number)[]) => {
    const why = reserved.get(name);
    if (why) report(ErrorCode.ReservedName, path, `type name "${name}" is reserved: it is ${why}; choose another name`, { name });
    return why !== undefined;
  };
  const refuseClassName = (name: string, path: (string | number)[]) => {
    // TypeScript refuses a class named Object in an ES module (TS2725); records are interfaces and may take it.
    if (name === "Object") report(ErrorCode.ReservedName, path, `message name "Object" is reserved: TypeScript allows no class of that name; choose another name`, { name });
    return name === "Object";
  };
  for (const name of Object.keys(manifest.records ?? {})) {
    if (!refuseReserved(name, ["records", name])) claim(name, ["records", name]);
  }
  const seenTypes = new Map<string, number>();
  manifest.messages.forEach((m, i) => {
    const earlier = seenTypes.get(m.type);
    if (earlier !== undefined) {
      report(ErrorCode.DuplicateType, ["messages", i, "type"], `message type "${m.type}" is declared twice (also messages[${earlier}])`, { type: m.type });
      return;
    }
    seenTypes.set(m.type, i);
    if (refuseClassName(m.name, ["messages", i, "name"])) return;
    // One mistake, one report: a name taken by another message takes its Payload, Init and Data names too.
    for (const name of [m.name, ...MESSAGE_NAME_SUFFIXES.map((suffix) => `${m.name}${suffix}`)]) {
      if (!refuseReserved(name, ["messages", i, "name"]) && !claim(name, ["messages", i, "name"])) break;
    }
  });

  // Subject keys name generated code by their PascalCase form (buildNode1Subject, the
  // AsyncAPI operation sendNode1): `node_1` and `node1` would share every name, and one would
  // silently replace the other.
  const subjectKeyOf = new Map<string, string>();
  for (const key of Object.keys(manifest.subjects)) {
    const earlier = subjectKeyOf.get(pascalCase(key));
    if (earlier === undefined) subjectKeyOf.set(pascalCase(key), key);
    else {
      const where = manifestYaml.locateKey(["subjects", key]);
      problems.add(ErrorCode.DuplicateName, { file: where.file, line: where.line, column: where.column }, `subject "${key}" generates the same names as subject "${earlier}" (build${pascalCase(key)}Subject, ${pascalCase(key)}SubjectParts, the AsyncAPI operations send${pascalCase(key)} and receive${pascalCase(key)}); rename one`, { subject: key, other: earlier });
    }
  }
  // Subjects: placeholders must be whole tokens with a param each.
  const subjects: SubjectModel[] = Object.entries(manifest.subjects)
    .flatMap(([key, s]) => problems.guard(() => parseSubjectTemplate(key, s.template, s.params, (path) => at(["subjects", key, ...path]))) ?? [])
    .sort((a, b) => compare(a.key, b.key));
  manifest.messages.forEach((m, i) => {
    if (!(m.subject in manifest.subjects)) {
      report(ErrorCode.SubjectUnknown, ["messages", i, "subject"], `message "${m.type}" uses subject "${m.subject}", which is not declared under subjects${didYouMean(m.subject, Object.keys(manifest.subjects))}`, { subject: m.subject });
    }
  });

  // Schema files, each read once. A file's generated name comes from the manifest key.
  const fileNames = new Map<string, string>(); // absolute path -> name
  const declare = (relPath: string, name: string) => fileNames.set(join(versionDir, relPath), name);
  const ENVELOPE = "(envelope)";
  declare(manifest.envelope, ENVELOPE);
  for (const [name, file] of Object.entries(manifest.records ?? {})) declare(file, name);
  // A file declared twice keeps its first name: a record's, or the first message's payload
  // name when several message types share one payload file (emitted once, referenced by each).
  for (const m of manifest.messages) {
    if (!fileNames.has(join(versionDir, m.payload))) declare(m.payload, `${m.name}Payload`);
  }
  const payloadNameOf = (m: ManifestDoc["messages"][number]) => fileNames.get(join(versionDir, m.payload))!;
  manifest.messages.forEach((m, i) => {
    if (payloadNameOf(m) === ENVELOPE) report(ErrorCode.ManifestInvalid, ["messages", i, "payload"], `message "${m.type}" uses the envelope file ${m.payload} as its payload; a payload is a schema of its own`, { type: m.type });
  });

  const sources = new Map<string, SchemaSource>();
  const hash = createHash("sha256").update(manifestYaml.text);
  for (const [abs, name] of [...fileNames].sort((a, b) => compare(a[0], b[0]))) {
    const yaml = await checkDeclaredFile(versionDir, abs, name === ENVELOPE, manifestYaml, name === ENVELOPE ? ["envelope"] : manifestPathOf(manifest, name), show, problems);
    if (!yaml) continue;
    // Paths as the manifest names them (relative to its folder): renaming or moving the
    // schemas folder must not change the hash, only a change to an input's bytes may.
    hash.update(`\0${relative(versionDir, abs).split(sep).join("/")}\0${yaml.text}`);
    sources.set(name, { yaml, name });
  }

  const refs: RefSite[] = [];
  const resolved = new Map<string, JsonSchema>();
  for (const [abs, name] of fileNames) {
    const source = sources.get(name);
    if (source) resolved.set(name, rewriteRefs(source, abs, fileNames, sources, show, problems, refs));
  }
  checkRefCycles(refs, resolved, sources, problems);
  // The model needs every file: stop here with everything found so far.
  problems.throwIfAny();

  const envelope = resolved.get(ENVELOPE)!;
  const envelopeSource = sources.get(ENVELOPE)!;
  sources.delete(ENVELOPE);
  resolved.delete(ENVELOPE);
  // create() fills the `auto` fields in; each must be a field the envelope has.
  const envelopeFields = Object.keys((envelope.properties as Record<string, unknown> | undefined) ?? {});
  for (const field of envelopeFields.filter((f) => RESERVED_FIELD_NAMES.includes(f))) {
    const where = envelopeSource.yaml.locateKey(["properties", field]);
    problems.add(ErrorCode.ReservedName, { file: where.file, line: where.line, column: where.column }, `envelope field "${field}" is reserved: every message has a member of that name (${RESERVED_FIELD_NAMES.filter((n) => !n.startsWith("__")).join(", ")}); rename the field`, { field });
  }
  for (const field of Object.keys(manifest.auto ?? {})) {
    if (!envelopeFields.includes(field)) {
      const where = manifestYaml.locateKey(["auto", field]);
      problems.add(ErrorCode.ManifestInvalid, { file: where.file, line: where.line, column: where.column }, `auto field "${field}" is not a property of the envelope (${envelopeFields.join(", ")})${didYouMean(field, envelopeFields)}`, { field });
    }
  }

  const schemas: NamedSchema[] = [];
  // Once, not per schema: asking every message for every schema grows with the square of their number.
  const payloadNames = new Set(manifest.messages.map(payloadNameOf));
  for (const [name, schema] of resolved) {
    const kind = !(manifest.records && name in manifest.records) && payloadNames.has(name) ? "payload" : "record";
    schemas.push(named(name, kind, sources.get(name)!.yaml.file, schema));
  }
  const messages: MessageModel[] = [];
  for (const m of manifest.messages) {
    const payloadName = payloadNameOf(m);
    const payload = resolved.get(payloadName)!;
    const description = typeof payload.description === "string" ? payload.description : undefined;
    const schema = composeMessage(envelope, m.type, m.name, payloadName, description);
    schemas.push({ ...named(m.name, "message", envelopeSource.yaml.file, schema), ...(description ? { description } : {}) });
    sources.set(m.name, { yaml: envelopeSource.yaml, name: m.name });
    messages.push({ type: m.type, name: m.name, payloadName, subject: m.subject, ...(description ? { description } : {}) });
  }

  for (const subject of subjects) problems.guard(() => resolveSubjectParams(subject, envelope, resolved, (path) => at(["subjects", subject.key, ...path])));
  // Where the runtime reads the declared version, time, source and signature of this version's envelopes.
  const envelopeLayout = deriveEnvelopeLayout(manifest.auto ?? {}, subjects, envelopeFields);
  if (Array.isArray(envelopeLayout)) for (const problem of envelopeLayout) problems.add(problem.code, at(problem.path), problem.message);
  problems.throwIfAny();

  const model: VersionModel = {
    version: manifest.version,
    id: folder,
    manifestFile: manifestYaml.file,
    hash: hash.digest("hex"),
    compatibleWith: manifest.compatible_with,
    declaredBy: manifest.declared_by,
    schemaManifestUrl: manifest.schema_manifest_url,
    changelog: manifest.changelog,
    schemaIdBase: manifest.schema_manifest_url.replace(/[^/]*$/, ""),
    auto: sortKeys(manifest.auto ?? {}),
    envelopeLayout: envelopeLayout as Exclude<typeof envelopeLayout, unknown[]>,
    subjects,
    messages: messages.sort((a, b) => compare(a.type, b.type)),
    schemas: schemas.sort((a, b) => compare(a.name, b.name)),
  };
  // The envelope's declared version may be pinned (`const: "0.2"` in the protocol record): then
  // to the manifest's version, or no message this version creates would pass its own validator.
  const pinned = model.envelopeLayout.declaredVersion === undefined || messages.length === 0 ? undefined : pinnedValues(model, messages[0]!.name, model.envelopeLayout.declaredVersion);
  if (pinned !== undefined && !pinned.includes(manifest.version)) {
    const where = manifestYaml.locate(["version"]);
    throw new OnexError(
      ErrorCode.ManifestInvalid,
      `${formatWhere(where)}: the manifest says version "${manifest.version}", but the envelope's ${model.envelopeLayout.declaredVersion} allows only ${pinned.map((v) => JSON.stringify(v)).join(", ")}: every message of v${manifest.version} would fail its own schema`,
      { ...where, allowed: pinned },
    );
  }
  return { model, sources };
}

/** The values `const`/`enum` allow at `pointer` in message `name`'s schema, following `$ref`s; undefined when it does not list them. */
function pinnedValues(model: VersionModel, name: string, pointer: string): unknown[] | undefined {
  const resolve = modelResolver(model);
  let schema: JsonSchema | undefined = model.schemas.find((s) => s.name === name)?.schema;
  const follow = (node: JsonSchema | undefined) => {
    for (let hops = 0; node !== undefined && typeof node.$ref === "string" && hops < 32; hops++) node = resolve(node.$ref);
    return node;
  };
  for (const segment of pointerSegments(pointer)) schema = (follow(schema)?.properties as Record<string, JsonSchema> | undefined)?.[segment];
  schema = follow(schema);
  if (schema === undefined) return undefined;
  return schema.const !== undefined ? [schema.const] : Array.isArray(schema.enum) ? schema.enum : undefined;
}

/**
 * Reads one schema file the manifest names and reports what can be judged of it alone: a
 * file outside the version folder or missing (at the manifest entry), YAML syntax, not a
 * mapping, and checkSchemaFile's (and, for the envelope, checkEnvelopeFile's) problems.
 * Returns the file when it could be read.
 */
async function checkDeclaredFile(
  versionDir: string,
  abs: string,
  isEnvelope: boolean,
  manifestYaml: YamlFile,
  manifestPath: (string | number)[],
  show: (abs: string) => string,
  problems: Problems,
): Promise<YamlFile | undefined> {
  const outside = outsideVersionFolder(versionDir, abs);
  if (outside !== undefined) {
    const where = manifestYaml.locate(manifestPath);
    problems.add(ErrorCode.ManifestInvalid, { file: where.file, line: where.line, column: where.column }, `schema file ${show(abs)} ${outside}; a manifest may name only files inside its version folder ${show(versionDir)}`, { outside: show(abs) });
    return undefined;
  }
  if (!existsSync(abs)) {
    const where = manifestYaml.locate(manifestPath);
    problems.add(ErrorCode.FileNotFound, { file: where.file, line: where.line, column: where.column }, `schema file ${show(abs)} does not exist`, { missing: show(abs) });
    return undefined;
  }
  const yaml = await problems.collect(() => readYamlFile(abs, show(abs)));
  if (!yaml) return undefined;
  if (yaml.value === null || typeof yaml.value !== "object" || Array.isArray(yaml.value)) {
    problems.add(ErrorCode.SchemaInvalid, { file: yaml.file, line: 1, column: 1 }, yaml.value === null || yaml.value === undefined ? "the schema file is empty; it must hold a JSON Schema (a YAML mapping)" : "a schema file must hold a YAML mapping");
    return undefined;
  }
  checkSchemaFile(yaml, problems);
  if (isEnvelope) checkEnvelopeFile(yaml, problems);
  return yaml;
}

/**
 * Why `abs` is not a file of the version folder, or undefined when it is. Whatever a manifest
 * names is read and published verbatim (the SDK's schema index, asyncapi.yaml, the reference
 * site): a path climbing out with `..`, or a link inside the folder pointing elsewhere, would
 * publish any YAML file of the build machine. `$ref`s resolve only to declared files, so this
 * guards them too.
 */
function outsideVersionFolder(versionDir: string, abs: string): string | undefined {
  return outsideFolder(versionDir, abs, "version folder");
}

/** The schema files a manifest that broke the meta-schema still names recognisably: `[path, manifest path, is the envelope]`, each once. */
function declaredFiles(value: unknown): [string, (string | number)[], boolean][] {
  const doc = (value ?? {}) as { envelope?: unknown; records?: unknown; messages?: unknown };
  const out: [string, (string | number)[], boolean][] = [];
  const seen = new Set<string>();
  const take = (file: unknown, path: (string | number)[], isEnvelope: boolean) => {
    if (typeof file !== "string" || !/\.ya?ml$/.test(file) || seen.has(file)) return;
    seen.add(file);
    out.push([file, path, isEnvelope]);
  };
  take(doc.envelope, ["envelope"], true);
  if (doc.records !== null && typeof doc.records === "object" && !Array.isArray(doc.records)) {
    for (const [name, file] of Object.entries(doc.records)) take(file, ["records", name], false);
  }
  if (Array.isArray(doc.messages)) {
    doc.messages.forEach((m: unknown, i) => take((m as { payload?: unknown } | null)?.payload, ["messages", i, "payload"], false));
  }
  return out;
}

/** The names a message `X` brings besides `X`: its payload type, `create()` fields and plain data interface. */
const MESSAGE_NAME_SUFFIXES = ["Payload", "Init", "Data"] as const;

/**
 * Members every message instance has (methods of the message class, and Object.prototype's):
 * an envelope field of that name would replace the method at run time and breaks the class's types.
 */
const RESERVED_FIELD_NAMES = ["subject", "encode", "toJSON", ...Object.getOwnPropertyNames(Object.prototype)].sort();

/** Plain code-unit comparison: the same order on every machine and locale. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort((a, b) => compare(a[0], b[0])));
}

function named(name: string, kind: NamedSchema["kind"], file: string, schema: JsonSchema): NamedSchema {
  const description = typeof schema.description === "string" ? schema.description : undefined;
  return { name, kind, file, schema, ...(description ? { description } : {}) };
}

function manifestPathOf(manifest: ManifestDoc, name: string): (string | number)[] {
  if (manifest.records && name in manifest.records) return ["records", name];
  const i = manifest.messages.findIndex((m) => `${m.name}Payload` === name);
  return ["messages", i, "payload"];
}

/** The full schema of one message: the envelope with `type` fixed and `payload` referenced. */
function composeMessage(envelope: JsonSchema, type: string, name: string, payloadName: string, description: string | undefined): JsonSchema {
  const properties = { ...(envelope.properties as Record<string, JsonSchema>) };
  properties.type = { description: `Message type, always \`${type}\`.`, const: type };
  properties.payload = { $ref: `onex:${payloadName}` };
  const schema: JsonSchema = { ...envelope, properties };
  if (description) schema.description = `\`${type}\`: ${description}`;
  else delete schema.description;
  // Local refs inside the envelope now live inside this message's schema.
  return mapSchemaRefs(schema, (ref) => (ref === "onex:(envelope)" || ref.startsWith("onex:(envelope)#") ? `onex:${name}${ref.slice("onex:(envelope)".length)}` : ref));
}


/** Where a `$ref` is (schema name and path in its file) and what it became in model form. */
interface RefSite {
  name: string;
  path: (string | number)[];
  ref: string;
}

/**
 * Returns a copy of the file's schema with every `$ref` in model form (`onex:Name#ptr`), and
 * `$schema`/`$id` dropped. A ref to an undeclared or missing file, a remote URL, or a
 * pointer that does not exist is reported as ONEX_E_REF_UNRESOLVED located at the ref (and
 * left as it was); every resolved ref is recorded in `sites`.
 */
function rewriteRefs(
  source: SchemaSource,
  ownAbs: string,
  fileNames: Map<string, string>,
  sources: Map<string, SchemaSource>,
  show: (abs: string) => string,
  problems: Problems,
  sites: RefSite[],
): JsonSchema {
  const { yaml } = source;
  const baseDir = dirname(ownAbs);
  const fail = (path: (string | number)[], message: string): undefined => {
    const where = yaml.locate(path);
    problems.add(ErrorCode.RefUnresolved, { file: where.file, line: where.line, column: where.column }, message, { ref: String(pathValue(yaml.value, path)) });
    return undefined;
  };
  /** `node` at a schema position: its `$ref` is a reference; the values of its data keywords are left as written. */
  const walk = (node: unknown, path: (string | number)[]): unknown => {
    if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, i]));
    if (node === null || typeof node !== "object") return node;
    const out: JsonSchema = {};
    for (const [key, value] of Object.entries(node as JsonSchema)) {
      if (path.length === 0 && (key === "$schema" || key === "$id")) continue;
      if (key === "$ref" && typeof value === "string") {
        const ref = resolveRef(value, [...path, key]);
        if (ref !== undefined) sites.push({ name: source.name, path: [...path, key], ref });
        out[key] = ref ?? value;
      } else if (DATA_KEYWORDS.has(key)) {
        // Instance data: a `$ref` member of a const is a member the message must have, not a reference.
        out[key] = value;
      } else if (NAMED_SCHEMA_KEYWORDS.has(key) && value !== null && typeof value === "object" && !Array.isArray(value)) {
        // Names here are property (or definition) names, not keywords: a property called `const` is a schema.
        out[key] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, walk(sub, [...path, key, name])]));
      } else {
        out[key] = walk(value, [...path, key]);
      }
    }
    return out;
  };
  const resolveRef = (ref: string, path: (string | number)[]): string | undefined => {
    const hashAt = ref.indexOf("#");
    const filePart = hashAt === -1 ? ref : ref.slice(0, hashAt);
    const pointer = hashAt === -1 ? "" : ref.slice(hashAt + 1);
    if (/^[a-z][a-z0-9+.-]*:/i.test(filePart)) return fail(path, `$ref "${ref}" is a remote reference; onex resolves only files of the manifest`);
    let targetName = source.name;
    if (filePart !== "") {
      const abs = join(baseDir, filePart);
      const name = fileNames.get(abs);
      if (name === undefined) {
        return fail(path, existsSync(abs)
          ? `$ref "${ref}" points at ${show(abs)}, which the manifest does not declare under records`
          : `$ref "${ref}" points at ${show(abs)}, which does not exist`);
      }
      targetName = name;
    }
    const target = sources.get(targetName)?.yaml;
    // A target that failed to load is reported on its own; its pointers cannot be checked.
    if (target && pointer !== "" && pathValue(target.value, pointerSegments(pointer)) === undefined) {
      return fail(path, `$ref "${ref}": ${pointer} does not exist in ${target.file}`);
    }
    return pointer === "" ? `onex:${targetName}` : `onex:${targetName}#${pointer}`;
  };
  return walk(yaml.value, []) as JsonSchema;
}

/**
 * Refs that lead back to where they stand without descending into the instance (`A` is
 * `$ref: B`, `B` is `allOf: [$ref: A]`) describe no schema at all: generators and validators
 * recurse on them until the stack overflows. What applies at the same place in the instance
 * is followed: `$ref`, `allOf`/`anyOf`/`oneOf`, `not`, `if`/`then`/`else` and
 * `dependentSchemas`. A record that refers to itself inside a property is recursion, not a
 * cycle, and passes.
 */
function checkRefCycles(sites: readonly RefSite[], resolved: Map<string, JsonSchema>, sources: Map<string, SchemaSource>, problems: Problems): void {
  const parse = (location: string) => /^onex:([^#]+)(?:#(.*))?$/.exec(location);
  const schemaAt = (location: string): unknown => {
    const match = parse(location);
    return match ? pathValue(resolved.get(match[1]!), pointerSegments(match[2] ?? "")) : undefined;
  };
  const label = (location: string) => {
    const match = parse(location)!;
    return `${sources.get(match[1]!)?.yaml.file ?? match[1]}${match[2] && match[2] !== "/" ? `#${match[2]}` : ""}`;
  };
  const normalise = (location: string) => location.replace(/#\/?$/, "");
  const child = (location: string, ...segments: (string | number)[]) => {
    const tail = segments.map((s) => String(s).replaceAll("~", "~0").replaceAll("/", "~1")).join("/");
    return location.includes("#") ? `${location}/${tail}` : `${location}#/${tail}`;
  };
  /** The schemas that apply at the same place in the instance as the one at `location`. */
  const samePlace = (location: string): string[] => {
    const node = schemaAt(location);
    if (node === null || typeof node !== "object" || Array.isArray(node)) return [];
    const schema = node as Record<string, unknown>;
    const next: string[] = [];
    if (typeof schema.$ref === "string") next.push(normalise(schema.$ref));
    for (const key of ["allOf", "anyOf", "oneOf"]) {
      const list = schema[key];
      if (Array.isArray(list)) list.forEach((_, i) => next.push(child(location, key, i)));
    }
    for (const key of ["not", "if", "then", "else"]) if (schema[key] !== null && typeof schema[key] === "object") next.push(child(location, key));
    const dependent = schema.dependentSchemas;
    if (dependent !== null && typeof dependent === "object") for (const name of Object.keys(dependent)) next.push(child(location, "dependentSchemas", name));
    return next;
  };
  /** A path of same-place steps from `from` back to `to`, or undefined. */
  const pathBack = (from: string, to: string): string[] | undefined => {
    const cameFrom = new Map<string, string | undefined>([[from, undefined]]);
    const queue = [from];
    while (queue.length > 0) {
      const at = queue.shift()!;
      if (at === to) {
        const path: string[] = [];
        for (let step: string | undefined = at; step !== undefined; step = cameFrom.get(step)) path.unshift(step);
        return path;
      }
      for (const next of samePlace(at)) {
        if (cameFrom.has(next)) continue;
        cameFrom.set(next, at);
        queue.push(next);
      }
    }
    return undefined;
  };
  const reported = new Set<string>();
  const fileOf = (site: RefSite) => sources.get(site.name)!.yaml;
  // In file order, so a cycle is reported at the same member every run.
  const ordered = [...sites].sort((a, b) => compare(fileOf(a).file, fileOf(b).file) || (fileOf(a).locate(a.path).line ?? 0) - (fileOf(b).locate(b.path).line ?? 0));
  for (const site of ordered) {
    // The address of the node holding this $ref: the cycle is reported at a ref on it, not at one leading into it.
    const holder = site.path.slice(0, -1);
    const own = holder.length === 0 ? `onex:${site.name}` : child(`onex:${site.name}`, ...holder);
    const cycle = pathBack(normalise(site.ref), own);
    if (cycle === undefined) continue;
    // Reported once per cycle, at the first of its refs in file order.
    const key = [...new Set(cycle)].sort().join("|");
    if (reported.has(key)) continue;
    reported.add(key);
    const where = fileOf(site).locate(site.path);
    problems.add(ErrorCode.RefCycle, { file: where.file, line: where.line, column: where.column }, `$ref cycle: ${[own, ...cycle].map(label).join(" -> ")} never reaches a schema; one of them must say what it is instead of referring on`, { cycle: cycle.map(label) });
  }
}

/** The value at `path` inside `value`, or undefined. */
export function pathValue(value: unknown, path: readonly (string | number)[]): unknown {
  let node = value;
  for (const segment of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}
