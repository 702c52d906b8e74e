/**
 * The compiled adapters take fields out of objects by copying them (no `delete`, which makes
 * V8 objects slow), so they must still write what walking the lenses with `delete` writes:
 * the same fields, in the same order (the same JSON text), and the same dropped data, for
 * every message type of every pair, both ways, on messages sampled from the schemas.
 */
import fc from "fast-check";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { interpret, type EscapeHatch } from "../../bench/lens-interpreter.js";
import { loadVersion } from "../../generator/load-version.js";
import type { VersionModel } from "../../generator/model.js";
import { invertLenses } from "../../generator/transforms/compile-lenses.js";
import { loadTransforms } from "../../generator/transforms/load-transforms.js";
import { schemaArbitrary } from "../../generator/transforms/schema-arbitrary.js";
import { versionGraph } from "../../generated/transforms/index.js";
import type { Dropped, JsonObject, LensContext } from "../../runtime/transform.js";
import { PROJECT_ROOT } from "../support/temp-schemas.js";

const schemasDir = join(PROJECT_ROOT, "schemas");
const loaded = await Promise.all(versionGraph.versions.map(async (version) => (await loadVersion(schemasDir, `v${version}`, PROJECT_ROOT)).model));
const models = new Map<string, VersionModel>(loaded.map((model) => [model.version, model]));
const transforms = await loadTransforms(schemasDir, loaded, PROJECT_ROOT);
const NUM_RUNS = Number(process.env.ONEX_PROPERTY_RUNS ?? 100);

async function protocolOf(version: string): Promise<() => JsonObject> {
  const manifest = (await import(pathToFileURL(join(PROJECT_ROOT, `generated/${models.get(version)!.id}/manifest.ts`)).href)) as { protocolBlock: () => JsonObject };
  return manifest.protocolBlock;
}

for (const transform of transforms) {
  const step = versionGraph.steps.find((s) => s.older === transform.from && s.newer === transform.to)!;
  const pairId = `${models.get(transform.from)!.id}-${models.get(transform.to)!.id}`;
  const functions = transform.functions
    ? ((await import(pathToFileURL(join(PROJECT_ROOT, `generated/transforms/lenses/${pairId}.ts`)).href)) as EscapeHatch["functions"])
    : {};
  const older = await protocolOf(transform.from);
  const newer = await protocolOf(transform.to);
  const up: LensContext = { sourceProtocol: older, targetProtocol: newer };
  const down: LensContext = { sourceProtocol: newer, targetProtocol: older };

  describe(`v${transform.from} <-> v${transform.to}: compiled adapters write what the lenses walked with delete write`, () => {
    for (const [type, own] of transform.types) {
      const lenses = [...transform.envelope, ...own];
      const pair = step.pairs[type]!;
      for (const direction of ["up", "down"] as const) {
        const [source, list, context] = direction === "up" ? [transform.from, lenses, up] : [transform.to, invertLenses(lenses), down];
        it(`${type} ${direction}`, () => {
          const model = models.get(source)!;
          const name = model.messages.find((m) => m.type === type)!.name;
          fc.assert(
            fc.property(schemaArbitrary(model, name, {}) as fc.Arbitrary<JsonObject>, (message) => {
              const { _residue: _ignored, ...fields } = message;
              const compiledDropped: Dropped = {};
              const compiled = pair[direction](fields, {}, compiledDropped);
              const walked = { ...fields };
              const walkedDropped: Dropped = {};
              interpret(list, walked, "", {}, walkedDropped, { functions, context });
              expect(JSON.stringify(compiled)).toBe(JSON.stringify(walked));
              expect(JSON.stringify(compiledDropped)).toBe(JSON.stringify(walkedDropped));
            }),
            { numRuns: NUM_RUNS },
          );
        });
      }
    }
  });
}
