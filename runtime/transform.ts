/**
 * What generated version adapters share at run time: the residue protocol that makes a
 * round trip between two versions lossless, and JSON deep equality.
 *
 * A generated step converts the fields of a message (everything but `_residue`) with
 * straight-line code and reports what the target version cannot hold as `dropped`: JSON
 * Pointer (into the source message, at the stage of the dropping lens) -> value. This file
 * packs that into the target's `_residue` under the source version's key, and unpacks it
 * again on the way back. The entry format, for key K:
 *
 *   `_residue[K] = { "<pointer>": value, ..., _prior?: <what _residue[K] held before>, _keep?: true }`
 *
 * `_prior` keeps a residue entry the message already carried under K (so a message that
 * went v0.2 -> v0.1 -> v0.2 -> v0.1 still round-trips), `_keep` records that `_residue`
 * existed and was empty. An entry is only consumed when it is exactly what the reverse
 * step would have written (checked by running that step); anything else travels through
 * untouched. That makes each step a bijection between the valid messages of two versions.
 */
import { ErrorCode, OnexError } from "./errors.js";
import { setJsonMember } from "./json-member.js";
import { messageTypeOf } from "./message.js";
import { declaredVersionOf } from "./trust/envelope.js";
import { assertValid, isValid } from "./validation.js";

/** A JSON object as adapters see it. */
export type JsonObject = { [key: string]: unknown };

/** Data a step could not express in its target version: JSON Pointer -> value. */
export type Dropped = { [pointer: string]: unknown };

/** The residue field of every envelope: version key -> entry object. */
export type ResidueMap = { [version: string]: JsonObject };

/** A generated straight-line field conversion: returns new fields (never modifying `fields`, which may be the message itself), records what it dropped. */
export type FieldConversion = (fields: JsonObject, restore: Dropped, dropped: Dropped) => JsonObject;

/** Context an escape-hatch lens function gets: the protocol blocks of both ends of the step. */
export interface LensContext {
  /** A fresh `protocol` block of the version the step reads (v0.0.9 has one too: its manifest values). */
  sourceProtocol(): JsonObject;
  /** A fresh `protocol` block of the version the step writes. */
  targetProtocol(): JsonObject;
}

/**
 * An escape-hatch lens: mutates `scope` (a copy the adapter owns; nested values are shared,
 * so replace them rather than mutate them: `onex check` runs lenses on frozen samples, and
 * migrate takes a member passed on as it was for unchanged), may read what it dropped earlier from
 * `restored`, and returns what it drops now (undefined when nothing).
 */
export type LensFunction = (scope: JsonObject, restored: unknown, context: LensContext) => unknown;

/**
 * What a step into a version checks of its output (generated as `stepOutputChecks`): the
 * message's validator without the members both versions give the same schema. Such a member
 * the step passed on as it was is valid already, since the input was validated.
 */
export interface OutputCheck {
  validate: (value: unknown) => boolean;
  /** True when each member `validate` leaves out is the very value in `output` that it is in `input` (or in neither). */
  unchanged: (output: JsonObject, input: JsonObject) => boolean;
}

/** One side of a pair: its version, its full validator and the check of a step writing it (absent: the full validator checks). */
export interface PairSide {
  version: string;
  validate: (value: unknown) => boolean;
  // `| undefined`: generated pairs set it from a lookup that may find none, and a project
  // compiling its generated SDK with exactOptionalPropertyTypes must accept that.
  check?: OutputCheck | undefined;
}

/** One adjacent version pair of one message type, as the generator emits it. */
export interface TransformPair {
  /** Message type, for error details. */
  type: string;
  older: PairSide;
  newer: PairSide;
  up: FieldConversion;
  down: FieldConversion;
}

/** Which way a step runs over its pair. */
export type Direction = "up" | "down";

const NO_DATA: Dropped = Object.freeze({}) as Dropped;

/**
 * `message`, checked valid in the version a step of `pair` reads in `direction`: what a
 * generated typed adapter (`migrateV0_2ToV0_1.taskDispatch(message)`) runs before the step. A
 * step checks only the members of its output it did not pass on as they were, so an invalid
 * input member (an `id` of 5, an empty list the step reads one item of) came out as an invalid
 * or shorter message and no error. Throws ONEX_E_VALIDATION.
 */
export function validStepInput(message: JsonObject, pair: TransformPair, direction: Direction): JsonObject {
  const source = direction === "up" ? pair.older : pair.newer;
  assertValid(source.validate, message, { version: source.version, type: pair.type, schemaId: pair.type });
  return message;
}

/** Runs one adjacent step over a whole message (fields and residue); the input is not modified. */
export function runTransformStep(message: JsonObject, pair: TransformPair, direction: Direction): JsonObject {
  // Adapters copy what they change and never write to their input, so a message without
  // residue is its own fields: copying it without `_residue` cost ~0.8 us a message.
  const writeKey = (direction === "up" ? pair.older : pair.newer).version;
  if (!Object.hasOwn(message, "_residue")) {
    // What unpackResidue and packResidue do when there is no residue, without their closures
    // and records (most messages carry none): the dropped data, if any, is the whole residue.
    const dropped: Dropped = {};
    const converted = convert(pair, direction)(message, NO_DATA, dropped);
    return isEmpty(dropped) ? converted : withResidue(converted, { [writeKey]: dropped });
  }
  const residue = message._residue;
  const fields = withoutResidue(message);
  const reverse: Direction = direction === "up" ? "down" : "up";
  // The entry the reverse step wrote into this message is keyed by the target version.
  const readKey = (direction === "up" ? pair.newer : pair.older).version;

  const read = unpackResidue(residue as ResidueMap | undefined, readKey, (entry, restEmpty) =>
    entryFits(pair, direction, fields, entry, restEmpty),
  );
  const dropped: Dropped = {};
  const converted = convert(pair, direction)(fields, read.data, dropped);
  const written = packResidue(read.rest, writeKey, dropped, (entry, restEmpty) => entryFits(pair, reverse, converted, entry, restEmpty));
  return written === undefined ? converted : withResidue(converted, written);
}

/**
 * `converted` with `_residue` set (last, or where it already is), in a new object built key by
 * key. Adding a property to an object made by spreading another (as adapters copy messages)
 * makes V8 allocate a new hidden class for every such object: ~200 bytes of old generation
 * per message, collected only by full collections, and JSON.stringify could not reuse what it
 * knew of the class.
 */
function withResidue(converted: JsonObject, residue: ResidueMap): JsonObject {
  const copy: JsonObject = {};
  for (const key in converted) if (Object.hasOwn(converted, key)) setJsonMember(copy, key, key === "_residue" ? residue : converted[key]);
  if (!Object.hasOwn(converted, "_residue")) copy._residue = residue;
  return copy;
}

function withoutResidue(message: JsonObject): JsonObject {
  const { _residue: _dropped, ...fields } = message;
  return fields;
}

function convert(pair: TransformPair, direction: Direction): FieldConversion {
  return direction === "up" ? pair.up : pair.down;
}

/**
 * True when `entry`, found in a message with `fields` that `direction` is about to convert,
 * is exactly what the reverse step writes for the message `direction` produces from it.
 */
function entryFits(pair: TransformPair, direction: Direction, fields: JsonObject, entry: unknown, restEmpty: boolean): boolean {
  if (!isPlainObject(entry)) return false;
  const { _prior: prior, _keep: keep, ...data } = entry;
  const hasPrior = Object.hasOwn(entry, "_prior");
  if (hasPrior && !isPlainObject(prior)) return false;
  if (Object.hasOwn(entry, "_keep") && (keep !== true || hasPrior || !restEmpty)) return false;
  if (isEmpty(data) && !(hasPrior && entryFits(pair, direction, fields, prior, restEmpty))) return false;
  try {
    const forwardDropped: Dropped = {};
    const candidate = convert(pair, direction)(fields, data, forwardDropped);
    // Only steps that drop nothing may consume an entry: otherwise the round trip would
    // need to interleave two residues, which no transform here does.
    if (!isEmpty(forwardDropped)) return false;
    const target = direction === "up" ? pair.newer : pair.older;
    if (!isValid(target.validate, candidate)) return false;
    const backDropped: Dropped = {};
    const back = convert(pair, direction === "up" ? "down" : "up")(candidate, NO_DATA, backDropped);
    return jsonEqual(back, fields) && jsonEqual(backDropped, data);
  } catch {
    return false;
  }
}

/** Takes the entry under `key` out of `residue` when `fits` accepts it; otherwise leaves everything as is. */
export function unpackResidue(
  residue: ResidueMap | undefined,
  key: string,
  fits: (entry: unknown, restEmpty: boolean) => boolean,
): { data: Dropped; rest: ResidueMap | undefined } {
  if (residue === undefined || !Object.hasOwn(residue, key)) return { data: NO_DATA, rest: residue };
  const entry = residue[key];
  const { [key]: _taken, ...others } = residue;
  if (!fits(entry, isEmpty(others))) return { data: NO_DATA, rest: residue };
  const { _prior: prior, _keep: keep, ...data } = entry as JsonObject;
  if (Object.hasOwn(entry as JsonObject, "_prior")) return { data, rest: { ...others, [key]: prior as JsonObject } };
  return { data, rest: isEmpty(others) && keep !== true ? undefined : others };
}

/** Adds `dropped` to `residue` under `key`, keeping an entry already there as `_prior` when needed. */
export function packResidue(
  residue: ResidueMap | undefined,
  key: string,
  dropped: Dropped,
  fits: (entry: unknown, restEmpty: boolean) => boolean,
): ResidueMap | undefined {
  const nothing = isEmpty(dropped);
  if (residue === undefined) return nothing ? undefined : { [key]: { ...dropped } };
  if (!Object.hasOwn(residue, key)) {
    if (nothing) return residue;
    return { ...residue, [key]: isEmpty(residue) ? { ...dropped, _keep: true } : { ...dropped } };
  }
  const { [key]: prior, ...others } = residue;
  // An entry the other side would not consume can stay as it is: it comes back unchanged.
  if (nothing && !fits(prior, isEmpty(others))) return residue;
  return { ...others, [key]: { ...dropped, _prior: prior } };
}

/** Structural equality of JSON values; object key order does not matter. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k) || !jsonEqual((a as JsonObject)[k], (b as JsonObject)[k])) return false;
  }
  return true;
}

/** Throws ONEX_E_NO_COUNTERPART: `type` exists in `from` but not in `to`. */
export function noCounterpart(type: string, from: string, to: string, migration?: { from: string; to: string }): never {
  // A hop inside a longer migration names the migration too: the user asked for its versions, not the hop's.
  const within = migration === undefined || (migration.from === from && migration.to === to) ? "" : ` (on the way from v${migration.from} to v${migration.to})`;
  throw new OnexError(ErrorCode.NoCounterpart, `message type "${type}" of v${from} has no counterpart in v${to}${within}`, { type, version: from, from, to, ...(within === "" ? {} : { migration }) });
}

function isPlainObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function isEmpty(object: object): boolean {
  for (const _ in object) return false;
  return true;
}

/** One adjacent step of the version graph, as generated/transforms/index.ts declares it. */
export interface GraphStep {
  older: string;
  newer: string;
  /** Message type -> its pair of adapters. */
  pairs: { readonly [type: string]: TransformPair };
  /** Types of `newer` with no counterpart in `older`. */
  newTypes: readonly string[];
  /** Types of `older` with no counterpart in `newer`. */
  removedTypes: readonly string[];
}

/** The versions the SDK knows (oldest first), their message validators, and the steps between them. */
export interface VersionGraph {
  versions: readonly string[];
  validators: { readonly [version: string]: { readonly [type: string]: (value: unknown) => boolean } };
  steps: readonly GraphStep[];
}

/** One step of a migration path and the way it runs. */
export type PathStep = { readonly step: GraphStep; readonly direction: Direction };

// Paths found, per graph: migrate and the receive pipeline ask for the same one per message.
const pathsOf = new WeakMap<VersionGraph, Map<string, readonly PathStep[]>>();

/** The steps from `from` to `to`, each with its direction; throws ONEX_E_UNKNOWN_VERSION or ONEX_E_NO_PATH. */
export function findMigrationPath(graph: VersionGraph, from: string, to: string): readonly PathStep[] {
  // A run asks for one path per message: the last one found is answered without building its key.
  const last = lastPath;
  if (last !== undefined && last.graph === graph && last.from === from && last.to === to) return last.path;
  let paths = pathsOf.get(graph);
  if (paths === undefined) pathsOf.set(graph, (paths = new Map()));
  const key = `${from} ${to}`;
  let path = paths.get(key);
  if (path === undefined) paths.set(key, (path = Object.freeze(searchMigrationPath(graph, from, to).map((step) => Object.freeze(step)))));
  lastPath = { graph, from, to, path };
  return path;
}

let lastPath: { graph: VersionGraph; from: string; to: string; path: readonly PathStep[] } | undefined;

function searchMigrationPath(graph: VersionGraph, from: string, to: string): PathStep[] {
  for (const version of [from, to]) {
    if (!graph.versions.includes(version)) {
      throw new OnexError(ErrorCode.UnknownVersion, `unknown protocol version "${version}" (known: ${graph.versions.map((v) => `v${v}`).join(", ")})`, { version });
    }
  }
  const a = graph.versions.indexOf(from);
  const b = graph.versions.indexOf(to);
  const path: PathStep[] = [];
  for (let i = a; i !== b; i += a < b ? 1 : -1) {
    const lo = graph.versions[Math.min(i, a < b ? i + 1 : i - 1)]!;
    const hi = graph.versions[Math.max(i, a < b ? i + 1 : i - 1)]!;
    const step = graph.steps.find((s) => s.older === lo && s.newer === hi);
    if (!step) {
      throw new OnexError(ErrorCode.NoPath, `no transform connects v${lo} and v${hi}, so v${from} cannot be migrated to v${to} (add schemas/v${hi}/from-v${lo}.yaml)`, { from, to, version: hi });
    }
    path.push({ step, direction: a < b ? "up" : "down" });
  }
  return path;
}

/**
 * True when `output` passes `check` and the step replaced none of the members the check leaves
 * out. Steps never write into their input, and escape functions must not either (`onex check`
 * runs them on frozen samples). False sends the output to the full validator, which then
 * gives the error, if any.
 */
function passesOutputCheck(check: OutputCheck, output: JsonObject, input: JsonObject): boolean {
  return check.unchanged(output, input) && check.validate(output);
}

/**
 * Validates `message` against its type in `from`, then runs it through every step to `to`.
 * Throws ONEX_E_UNKNOWN_TYPE, ONEX_E_VALIDATION, ONEX_E_NO_COUNTERPART or ONEX_E_NO_PATH.
 */
export function migrateAlongGraph(graph: VersionGraph, message: unknown, from: string, to: string): JsonObject {
  const path = findMigrationPath(graph, from, to);
  const type = messageTypeOf(message, from);
  const validate = graph.validators[from]?.[type];
  if (!validate) throw new OnexError(ErrorCode.UnknownType, `"${type}" is not a message type of v${from}`, { version: from, type });
  // Valid as read, before assertValid's second try for integers read as BigInt (which a
  // validator's "integer" refuses): the output check below relies on the members it leaves out
  // having passed as they are.
  const validAsRead = validate(message);
  try {
    if (!validAsRead) assertValid(validate, message, { version: from, type, schemaId: type });
  } catch (error) {
    // A line of another version in a log of `from` (a mixed log): say which, not only what fails.
    const declared = declaredVersionOf(message);
    if (!(error instanceof OnexError) || declared === undefined || declared === from || graph.validators[declared] === undefined) throw error;
    throw new OnexError(error.code, `${error.message}; the message declares v${declared}: migrate it from v${declared}`, { ...error.details, declared });
  }
  let current = message as JsonObject;
  for (const { step, direction } of path) {
    const [source, target] = direction === "up" ? [step.older, step.newer] : [step.newer, step.older];
    const pair = step.pairs[type];
    if (!pair) noCounterpart(type, source, target, { from, to });
    try {
      current = runTransformStep(current, pair, direction);
    } catch (error) {
      if (error instanceof OnexError) throw error;
      // An escape function's own failure is this message's problem, reported with it, not the run's.
      throw new OnexError(ErrorCode.TransformUnsound, `the transform v${source} -> v${target} of ${type} failed on this message: ${(error as Error)?.message ?? String(error)}`, { type, from: source, to: target }, { cause: error });
    }
  }
  // What lenses and escape functions made must be a message of `to`: a default of the wrong
  // type, or an escape function's mistake, is caught here rather than written as if migrated.
  // One step, from an input valid as read: the members it passed on unchanged were checked on
  // input, under the same schema.
  const only = path.length === 1 && validAsRead ? path[0]! : undefined;
  const check = only === undefined ? undefined : (only.direction === "up" ? only.step.pairs[type]!.newer : only.step.pairs[type]!.older).check;
  try {
    if (path.length > 0 && !(check !== undefined && passesOutputCheck(check, current, message as JsonObject))) {
      assertValid(graph.validators[to]![type]!, current, { version: to, type, schemaId: type });
    }
  } catch (error) {
    if (!(error instanceof OnexError)) throw error;
    throw new OnexError(ErrorCode.TransformUnsound, `the transforms from v${from} made a message v${to} refuses: ${error.message}`, { ...error.details, from, to }, { cause: error });
  }
  return current;
}
