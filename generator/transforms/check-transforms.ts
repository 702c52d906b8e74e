/**
 * What `onex check` proves about a version graph on sampled messages (fast-check, from the
 * versions' own JSON Schemas, residue included): every transform's output is valid in the
 * target version, and every round trip — each adjacent pair both ways, and every composed
 * path between versions further apart — gives back exactly the message it started from.
 * Validity alone would pass a transform that silently loses or rewrites data.
 */
import fc from "fast-check";
import { ErrorCode, OnexError } from "@onex/runtime";
import { jsonEqual, migrateAlongGraph, runTransformStep, type JsonObject, type VersionGraph } from "@onex/runtime";
import type { VersionModel } from "../model.js";
import { residueArbitrary, schemaArbitrary } from "./schema-arbitrary.js";

export interface CheckOptions {
  /** Messages sampled per type and direction (or path). */
  samples: number;
  /** fast-check seed; the same seed samples the same messages. */
  seed: number;
}

export interface CheckResult {
  /** Type/direction pairs of adjacent versions checked (validity and round trip). */
  steps: number;
  /** Type/path pairs of versions further apart checked (validity and round trip). */
  paths: number;
  /** Adjacent versions with no transform between them (`v0.2 -> v0.3`): no path across them is checked, as none is migrated. */
  gaps: string[];
}

type Validator = ((value: unknown) => boolean) & { errors?: { instancePath: string; schemaPath: string; message?: string }[] | null };

/**
 * Checks every step and every composed path of `graph`; `models` are the loaded versions by
 * version. Throws ONEX_E_TRANSFORM_UNSOUND naming the type, the versions, the sample and the seed.
 */
export function checkVersionGraph(graph: VersionGraph, models: ReadonlyMap<string, VersionModel>, options: CheckOptions): CheckResult {
  const residue = residueArbitrary(graph.versions);
  let runs = 0;
  const samples = (version: string, type: string): unknown[] => {
    const model = models.get(version)!;
    const name = model.messages.find((m) => m.type === type)!.name;
    // Frozen, so a transform that writes into a value it was passed (rather than replacing it)
    // fails here: migrate takes a member a step passes on as the very value it read to be
    // unchanged, and checked already (runtime/transform.ts, passesOutputCheck).
    return fc.sample(schemaArbitrary(model, name, { Residue: residue }), { numRuns: options.samples, seed: options.seed + runs++ }).map(deepFreeze);
  };
  const fail = (type: string, from: string, to: string, problem: string, sample: unknown, extra: Record<string, unknown>, lines: string[]): never => {
    throw new OnexError(
      ErrorCode.TransformUnsound,
      `${type} v${from} -> v${to}: ${problem}`,
      // Shown under the message, a line each (see OnexCommand.catch).
      { type, from, to, sample, seed: options.seed, ...extra, lines: [`sample: ${JSON.stringify(sample)}`, ...lines, `replay: onex check --seed ${options.seed}`] },
    );
  };
  const assertValid = (type: string, source: string, target: string, sample: unknown, out: unknown) => {
    const validate = graph.validators[target]![type]! as Validator;
    if (validate(out)) return;
    const issue = validate.errors?.[0];
    fail(type, source, target, `the result fails v${target} at ${issue?.instancePath || "/"} (${issue?.message ?? "invalid"}) [${issue?.schemaPath ?? ""}]`, sample, { instancePath: issue?.instancePath, schemaPath: issue?.schemaPath }, [`result: ${JSON.stringify(out)}`]);
  };
  const assertRestored = (type: string, source: string, target: string, sample: unknown, out: unknown, back: unknown) => {
    if (jsonEqual(back, sample)) return;
    fail(type, source, target, `the round trip v${source} -> v${target} -> v${source} does not restore the message (at ${firstDifference(sample, back) || "/"})`, sample, { roundTrip: true, instancePath: firstDifference(sample, back) }, [
      `there:  ${JSON.stringify(out)}`,
      `back:   ${JSON.stringify(back)}`,
    ]);
  };

  // A transform that throws (an escape function's mistake) or makes what its target refuses
  // (migrateAlongGraph validates) fails the check with the sample, as any other unsound result.
  const attempt = (type: string, source: string, target: string, sample: unknown, transform: () => JsonObject): JsonObject => {
    try {
      return transform();
    } catch (error) {
      if (error instanceof OnexError && error.code !== ErrorCode.TransformUnsound) throw error;
      const written = error instanceof TypeError && /read.only|not extensible|frozen/i.test(error.message) ? " (a transform must not write into a value it was passed: copy it, change the copy)" : "";
      return fail(type, source, target, `the transform failed: ${(error as Error)?.message ?? String(error)}${written}`, sample, {}, []);
    }
  };

  // Every result is validated before any round trip is judged: a result the target rejects is
  // the more basic mistake, and its residue would make the round trip fail too.
  const trips: { type: string; source: string; target: string; sample: unknown; out: JsonObject; back: () => unknown }[] = [];
  let steps = 0;
  for (const step of graph.steps) {
    for (const [type, pair] of Object.entries(step.pairs)) {
      for (const direction of ["up", "down"] as const) {
        const [source, target] = direction === "up" ? [step.older, step.newer] : [step.newer, step.older];
        for (const sample of samples(source, type)) {
          const out = attempt(type, source, target, sample, () => runTransformStep(sample as JsonObject, pair, direction));
          assertValid(type, source, target, sample, out);
          trips.push({ type, source, target, sample, out, back: () => attempt(type, target, source, out, () => runTransformStep(deepFreeze(out), pair, direction === "up" ? "down" : "up")) });
        }
        steps++;
      }
    }
  }

  // Composed paths: each step may be sound on its own samples and the chain still lose what
  // one step keeps for another, on messages only the earlier steps produce.
  let paths = 0;
  const { versions } = graph;
  // A version that breaks with its past on purpose (no transform file from the one before it)
  // cuts the graph: migrate refuses every path across the cut (ONEX_E_NO_PATH), and the check
  // checks the versions on each side of it rather than stop at it.
  const stepped = new Set(graph.steps.map((step) => `${step.older} ${step.newer}`));
  const gaps = versions.slice(1).flatMap((v, i) => (stepped.has(`${versions[i]} ${v}`) ? [] : [`v${versions[i]} -> v${v}`]));
  const joined = (lo: number, hi: number) => versions.slice(lo, hi).every((v, i) => stepped.has(`${v} ${versions[lo + i + 1]}`));
  for (let a = 0; a < versions.length; a++) {
    for (let b = 0; b < versions.length; b++) {
      if (Math.abs(a - b) < 2 || !joined(Math.min(a, b), Math.max(a, b))) continue;
      const [from, to] = [versions[a]!, versions[b]!];
      const between = versions.slice(Math.min(a, b), Math.max(a, b) + 1);
      const types = Object.keys(graph.validators[from] ?? {}).filter((type) => between.every((v) => graph.validators[v]?.[type] !== undefined));
      for (const type of types.sort()) {
        for (const sample of samples(from, type)) {
          const out = attempt(type, from, to, sample, () => migrateAlongGraph(graph, sample, from, to));
          assertValid(type, from, to, sample, out);
          trips.push({ type, source: from, target: to, sample, out, back: () => attempt(type, to, from, out, () => migrateAlongGraph(graph, deepFreeze(out), to, from)) });
        }
        paths++;
      }
    }
  }

  for (const trip of trips) assertRestored(trip.type, trip.source, trip.target, trip.sample, trip.out, trip.back());
  return { steps, paths, gaps };
}

/** `value`, and every object and array within it, frozen. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}

/** The JSON Pointer of the first place two JSON values differ, "" when they differ at the top. */
function firstDifference(a: unknown, b: unknown, pointer = ""): string {
  if (jsonEqual(a, b)) return pointer;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object" || Array.isArray(a) !== Array.isArray(b)) return pointer;
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const key of keys) {
    const x = (a as Record<string, unknown>)[key];
    const y = (b as Record<string, unknown>)[key];
    if (!jsonEqual(x, y)) return firstDifference(x, y, `${pointer}/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`);
  }
  return pointer;
}
