/**
 * Loading the declarative transforms between adjacent versions (`schemas/vX/from-vY.yaml`):
 * meta-schema check with located errors, then the rules the meta-schema cannot express
 * (one operation per lens, lossy markers, every shared message type listed, escape
 * functions that exist). The result is the lens model the compiler and `onex diff` read.
 */
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import type { ValidateFunction } from "ajv/dist/2020.js";
import { ErrorCode, OnexError } from "@onex/runtime";
import { compare } from "../load-version.js";
import { createAjv, shapeProblems } from "../meta-schema.js";
import type { VersionModel } from "../model.js";
import { PACKAGE_ROOT } from "../package-root.js";
import { Problems } from "../problems.js";
import { didYouMean } from "../did-you-mean.js";
import { readYamlFile, type YamlFile } from "../yaml-file.js";
import { canonicalText, utf8Text } from "../input-hashes.js";
import { outsideFolder } from "../path-within.js";
import { checkLensFields } from "./check-lens-fields.js";
import { exportedFunctions } from "./functions-module.js";

/** Where the transform meta-schema lives in the package. */
export const TRANSFORM_META_SCHEMA = join(PACKAGE_ROOT, "schemas", "transform.schema.yaml");

/** The operations a lens can have, written in the upgrade direction. */
export const LENS_KINDS = ["rename", "add", "remove", "hoist", "plunge", "wrap", "head", "convert", "in", "map", "escape"] as const;
export type LensKind = (typeof LENS_KINDS)[number];

/** Kinds whose downgrade (or upgrade, for remove/head) can drop data, so the file must say `lossy: true`. */
const MUST_BE_LOSSY = new Set<LensKind>(["add", "remove", "wrap", "head", "convert"]);
/** Kinds that never drop data; `lossy: true` on them is a mistake. */
const NEVER_LOSSY = new Set<LensKind>(["rename", "hoist", "plunge", "in", "map"]);

export type Lens =
  | { kind: "rename"; from: string; to: string }
  | { kind: "add" | "remove"; name: string; optional: boolean; default?: unknown }
  | { kind: "hoist" | "plunge"; host: string; name: string }
  | { kind: "wrap" | "head"; name: string; hasFallback: boolean; fallback?: unknown }
  | { kind: "convert"; name: string; mapping: [unknown, unknown][]; fallback: { up: unknown; down: unknown }; id: number }
  | { kind: "in" | "map"; name: string; lenses: Lens[] }
  | { kind: "escape"; up: string; down: string; touches: string[] };

/** One adjacent transform, validated. */
export interface TransformModel {
  /** The older version, `0.1`. */
  from: string;
  /** The newer version, `0.2`. */
  to: string;
  /** Path shown in headers and errors, `schemas/v0.2/from-v0.1.yaml`. */
  file: string;
  /** sha256 input: the YAML text and the functions module text. */
  text: string;
  /** The escape-hatch module's source and its shown path, when the file names one. */
  functions?: { file: string; source: string };
  envelope: Lens[];
  /** Message type -> its own lenses, sorted by type. */
  types: Map<string, Lens[]>;
  newTypes: string[];
  removedTypes: string[];
}

interface TransformDoc {
  from: string;
  to: string;
  functions?: string;
  envelope: RawLens[];
  types: Record<string, RawLens[]>;
  new_types?: string[];
  removed_types?: string[];
}
type RawLens = Record<string, unknown> & { lossy?: boolean };

let metaValidator: Promise<ValidateFunction> | undefined;

function loadMetaValidator(): Promise<ValidateFunction> {
  metaValidator ??= readYamlFile(TRANSFORM_META_SCHEMA, "schemas/transform.schema.yaml").then((meta) => createAjv({ allErrors: true }).compile(meta.value as object));
  return metaValidator;
}

/**
 * Loads every `from-v*.yaml` of every version folder. `models` are the loaded versions,
 * oldest first; each transform must connect a version to the one just before it.
 */
export async function loadTransforms(schemasDir: string, models: readonly VersionModel[], displayRoot: string): Promise<TransformModel[]> {
  const show = (abs: string) => relative(displayRoot, abs).split(sep).join("/");
  const out: TransformModel[] = [];
  // Every file is checked, so one run reports the mistakes of all of them.
  const problems = new Problems();
  for (const [index, model] of models.entries()) {
    const dir = join(schemasDir, model.id);
    const entries = await readdir(dir);
    // `from-0.2.yaml` would otherwise be ignored, and the hop left without its transform in silence.
    for (const name of entries.filter((n) => /^from-.*\.ya?ml$/i.test(n) && !/^from-v.+\.ya?ml$/.test(n))) {
      problems.add(ErrorCode.TransformInvalid, { file: show(join(dir, name)) }, `a transform file is named from-v<older version>.yaml (here from-v${models[index - 1]?.version ?? "<older>"}.yaml); this one would not be read`);
    }
    const names = entries.filter((n) => /^from-v.+\.ya?ml$/.test(n)).sort(compare);
    // A transform's functions module left without its transform file (a folder copied from the
    // version before, its transform file replaced) would otherwise lie there unread.
    const namedModules = new Set<string>();
    let unread = false;
    for (const name of names) {
      await problems.collect(async () => {
        const outside = outsideFolder(dir, join(dir, name), "version folder");
        if (outside !== undefined) {
          unread = true;
          throw new OnexError(ErrorCode.TransformInvalid, `${show(join(dir, name))} ${outside}; a transform is a file of its version's folder`, { file: show(join(dir, name)), line: 1, column: 1 });
        }
        const yaml = await readYamlFile(join(dir, name), show(join(dir, name))).catch((error: unknown) => {
          unread = true;
          throw error;
        });
        const functions = (yaml.value as { functions?: unknown } | null)?.functions;
        if (typeof functions === "string") namedModules.add(join(dir, functions));
        // Every mistake of the file, then its lenses' field names where its lenses parsed.
        const fileProblems = new Problems();
        const checked = await checkTransform(yaml, model, models[index - 1], dir, show, fileProblems);
        if (checked === undefined) return fileProblems.throwIfAny();
        const { transform } = checked;
        const earlier = out.find((t) => t.from === transform.from && t.to === transform.to);
        if (earlier) fileProblems.add(ErrorCode.TransformInvalid, yaml.locate(["from"]), `a second transform from v${transform.from} to v${transform.to}; ${earlier.file} already is one, and a hop has exactly one transform file`, { other: earlier.file });
        if (checked.envelopeParsed) checkLensFields(transform, yaml, models[index - 1]!, model, fileProblems);
        fileProblems.throwIfAny();
        out.push(transform);
      });
    }
    // Only modules: not a test or declaration file beside one; and not when a transform file could not be read, which may name it.
    const isModule = (n: string) => /^from-v[^/]+\.[cm]?ts$/.test(n) && !/\.(d|test|spec)\.[cm]?ts$/.test(n);
    for (const name of unread ? [] : entries.filter((n) => isModule(n) && !namedModules.has(join(dir, n)))) {
      problems.add(ErrorCode.TransformInvalid, { file: show(join(dir, name)), line: 1, column: 1 }, `no transform file of v${model.version} names this functions module (with "functions: ${name}"); remove it, or name it in the transform it belongs to`);
    }
  }
  problems.throwIfAny();
  return out;
}

/**
 * Checks one transform file against the versions it connects, adding every mistake found to
 * `problems`. Returns the lenses that parsed (a type whose lenses did not is left out), and
 * whether the envelope's did, which every type's field-name check plays first; undefined when
 * the file's shape or its `from` leaves nothing to check the types against.
 */
async function checkTransform(
  yaml: YamlFile,
  newer: VersionModel,
  older: VersionModel | undefined,
  dir: string,
  show: (abs: string) => string,
  problems: Problems,
): Promise<{ transform: TransformModel; envelopeParsed: boolean } | undefined> {
  // Counted here, not read from `problems`, which reports a repeated mistake once.
  let failures = 0;
  const fail = (path: (string | number)[], message: string): void => {
    failures++;
    problems.add(ErrorCode.TransformInvalid, yaml.locate(path), message);
  };
  // Every shape mistake of the file at once, each at its key or value.
  const shape = shapeProblems(yaml, await loadMetaValidator(), ErrorCode.TransformInvalid, "transform");
  if (shape.length > 0) {
    for (const p of shape) problems.add(p.code, p, p.message, p);
    return undefined;
  }
  const doc = yaml.value as TransformDoc;
  if (doc.to !== newer.version) fail(["to"], `"to" is "${doc.to}", but the file is in the folder of v${newer.version}`);
  if (!older || doc.from !== older.version) {
    fail(["from"], older ? `"from" is "${doc.from}", but the version before v${newer.version} is v${older.version}; transforms connect adjacent versions` : `v${newer.version} is the oldest version; it has no version to transform from`);
    return undefined;
  }
  const expectedName = `from-v${doc.from}`;
  if (!yaml.file.replace(/^.*\//, "").startsWith(`${expectedName}.`)) fail(["from"], `a transform from v${doc.from} must be named ${expectedName}.yaml`);

  let functions: TransformModel["functions"];
  if (doc.functions !== undefined) {
    const abs = join(dir, doc.functions);
    // The module is copied into generated/: one from elsewhere would publish any file of the build machine.
    const outside = outsideFolder(dir, abs, "version folder");
    if (outside !== undefined) fail(["functions"], `functions module ${show(abs)} ${outside}; a transform may name only a module inside its version folder ${show(dir)}`);
    else if (existsSync(abs)) {
      // Strictly: it is copied into generated/, and a byte that is not UTF-8 would be U+FFFD there.
      const bytes = await readFile(abs);
      functions = problems.guard(() => ({ file: show(abs), source: canonicalText(utf8Text(bytes, show(abs), ErrorCode.TransformInvalid)) }));
    } else fail(["functions"], `functions module ${show(abs)} does not exist`);
  }
  const exported = functions === undefined ? new Set<string>() : await exportedFunctions(functions.file, functions.source);

  let convertIds = 0;
  /** A lens list, or undefined when one of its lenses (at any depth) has a mistake; every lens is checked either way. */
  const parseLenses = (raw: RawLens[], path: (string | number)[]): Lens[] | undefined => {
    const lenses = raw.map((item, i) => parseLens(item, [...path, i]));
    return lenses.every((lens) => lens !== undefined) ? (lenses as Lens[]) : undefined;
  };
  const parseLens = (item: RawLens, at: (string | number)[]): Lens | undefined => {
    const before = failures;
    const ops = Object.keys(item).filter((k) => (LENS_KINDS as readonly string[]).includes(k)) as LensKind[];
    if (ops.length !== 1) {
      fail(at, ops.length === 0 ? "a lens needs one operation (" + LENS_KINDS.join(", ") + ")" : `a lens has exactly one operation, this one has ${ops.join(" and ")}`);
      return undefined;
    }
    const kind = ops[0]!;
    const body = item[kind] as Record<string, unknown>;
    if (MUST_BE_LOSSY.has(kind) && item.lossy !== true) fail(at, `"${kind}" can drop data in one direction (it then travels in the residue); mark the lens "lossy: true"`);
    if (NEVER_LOSSY.has(kind) && item.lossy === true) fail([...at, "lossy"], `"${kind}" never drops data; remove "lossy: true"`);
    const lens = lensOf(kind, body, at);
    return failures === before ? lens : undefined;
  };
  const lensOf = (kind: LensKind, body: Record<string, unknown>, at: (string | number)[]): Lens | undefined => {
    switch (kind) {
      case "rename":
        return { kind, from: body.from as string, to: body.to as string };
      case "add":
      case "remove": {
        const hasDefault = Object.hasOwn(body, "default");
        if (hasDefault === (body.optional === true)) fail([...at, kind], `"${kind}" needs either a "default" or "optional: true" (not both)`);
        return hasDefault ? { kind, name: body.name as string, optional: false, default: body.default } : { kind, name: body.name as string, optional: true };
      }
      case "hoist":
      case "plunge":
        return { kind, host: body.host as string, name: body.name as string };
      case "wrap":
      case "head":
        return Object.hasOwn(body, "fallback") ? { kind, name: body.name as string, hasFallback: true, fallback: body.fallback } : { kind, name: body.name as string, hasFallback: false };
      case "convert": {
        const mapping = (body.mapping as { old: unknown; new: unknown }[]).map((m) => [m.old, m.new] as [unknown, unknown]);
        const seen = new Set<string>();
        mapping.forEach(([old], j) => {
          const key = JSON.stringify(old);
          if (seen.has(key)) fail([...at, "convert", "mapping", j, "old"], `"convert" maps ${key} twice`);
          seen.add(key);
        });
        return { kind, name: body.name as string, mapping, fallback: body.fallback as { up: unknown; down: unknown }, id: convertIds++ };
      }
      case "in":
      case "map": {
        const lenses = parseLenses(body.lenses as RawLens[], [...at, kind, "lenses"]);
        return lenses === undefined ? undefined : { kind, name: body.name as string, lenses };
      }
      case "escape": {
        for (const side of ["up", "down"] as const) {
          const fn = body[side] as string;
          // A module named but missing is reported once, above, not again for each function.
          if (doc.functions === undefined) fail([...at, kind, side], `escape function "${fn}" needs a "functions" module in the transform file`);
          else if (functions !== undefined && !exported.has(fn)) fail([...at, kind, side], `escape function "${fn}" is not exported by ${functions.file}`);
        }
        return { kind, up: body.up as string, down: body.down as string, touches: body.touches as string[] };
      }
    }
  };

  const envelope = parseLenses(doc.envelope, ["envelope"]);
  const olderTypes = new Set(older.messages.map((m) => m.type));
  const newerTypes = new Set(newer.messages.map((m) => m.type));
  const types = new Map<string, Lens[]>();
  for (const type of Object.keys(doc.types).sort(compare)) {
    if (olderTypes.has(type) !== newerTypes.has(type)) {
      // Listed there already, the fix is to take it out of `types` (which names only types both versions have).
      const key = olderTypes.has(type) ? "removed_types" : "new_types";
      const fix = doc[key]?.includes(type) ? `take it out of types (it is listed under ${key}, where it belongs)` : `list it under ${key}`;
      fail(["types", type], `"${type}" is not a message type of both v${doc.from} and v${doc.to}; ${fix}`);
      continue;
    }
    if (!olderTypes.has(type)) {
      fail(["types", type], `"${type}" is a message type of neither v${doc.from} nor v${doc.to}${didYouMean(type, [...new Set([...olderTypes, ...newerTypes])])}`);
      continue;
    }
    const lenses = parseLenses(doc.types[type]!, ["types", type]);
    if (lenses !== undefined) types.set(type, lenses);
  }
  for (const type of [...olderTypes].filter((t) => newerTypes.has(t)).sort(compare)) {
    if (!Object.hasOwn(doc.types, type)) fail(["types"], `message type "${type}" is in v${doc.from} and v${doc.to} but has no entry under types (use [] when only the envelope changes)`);
  }
  const declared = (key: "new_types" | "removed_types", actual: string[]) => {
    const list = doc[key] ?? [];
    list.forEach((type, i) => {
      if (!actual.includes(type)) fail([key, i], `"${type}" is not a message type only ${key === "new_types" ? `v${doc.to}` : `v${doc.from}`} has${didYouMean(type, actual)}`);
    });
    for (const type of actual) {
      if (list.includes(type)) continue;
      // Where the type belongs: the list when there is one, else the types it is missing from.
      failures++;
      problems.add(ErrorCode.TransformInvalid, yaml.locateKey([doc[key] === undefined ? "types" : key]), `message type "${type}" has no counterpart in v${key === "new_types" ? doc.from : doc.to}; declare it under ${key}`);
    }
    return [...list].sort(compare);
  };
  const newTypes = declared("new_types", [...newerTypes].filter((t) => !olderTypes.has(t)).sort(compare));
  const removedTypes = declared("removed_types", [...olderTypes].filter((t) => !newerTypes.has(t)).sort(compare));

  for (const [type, lenses] of types) {
    const pointers = new Set<string>();
    for (const pointer of residuePointers([...(envelope ?? []), ...lenses], "")) {
      if (pointers.has(pointer)) fail(["types", type], `two lossy lenses of "${type}" keep residue at ${pointer}; residue pointers must be unique per type`);
      pointers.add(pointer);
    }
  }

  const transform: TransformModel = {
    from: doc.from,
    to: doc.to,
    file: yaml.file,
    text: yaml.text + (functions ? `\0${functions.source}` : ""),
    ...(functions ? { functions } : {}),
    envelope: envelope ?? [],
    types,
    newTypes,
    removedTypes,
  };
  return { transform, envelopeParsed: envelope !== undefined };
}

/** The residue pointer a lens keeps dropped data at: its scope plus the field it works on. */
export function lensField(lens: Lens): string {
  switch (lens.kind) {
    case "rename":
      return lens.to;
    case "escape":
      return lens.touches[0]!;
    default:
      return lens.name;
  }
}

/** Static residue pointers of lenses that can drop data (inside `map`, `-` stands for any index). */
function residuePointers(lenses: Lens[], scope: string): string[] {
  return lenses.flatMap((lens) => {
    if (lens.kind === "in") return residuePointers(lens.lenses, `${scope}/${lens.name}`);
    if (lens.kind === "map") return residuePointers(lens.lenses, `${scope}/${lens.name}/-`);
    if (lens.kind === "rename" || lens.kind === "hoist" || lens.kind === "plunge") return [];
    return [`${scope}/${lensField(lens)}`];
  });
}
