/**
 * Property tests of the generated version adapters: for every message type, every adjacent
 * pair and the composed paths, the output validates against the target version and round
 * trips are the identity — also for messages that already carry residue.
 */
import fc from "fast-check";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadVersion } from "../../generator/load-version.js";
import type { VersionModel } from "../../generator/model.js";
import { residueArbitrary, schemaArbitrary } from "../../generator/transforms/schema-arbitrary.js";
import * as transforms from "../../generated/transforms/index.js";
import { jsonEqual, runTransformStep, type JsonObject } from "../../runtime/transform.js";
import { isOnexError } from "../../runtime/errors.js";
import { PROJECT_ROOT } from "../support/temp-schemas.js";

const { versionGraph, migrate } = transforms;
const schemasDir = join(PROJECT_ROOT, "schemas");
const models = new Map<string, VersionModel>();
for (const version of versionGraph.versions) models.set(version, (await loadVersion(schemasDir, `v${version}`, PROJECT_ROOT)).model);

const NUM_RUNS = Number(process.env.ONEX_PROPERTY_RUNS ?? 150);
const residue = residueArbitrary(versionGraph.versions);

/** Valid messages of `type` in `version`, residue included. */
function messages(version: string, type: string): fc.Arbitrary<JsonObject> {
  const model = models.get(version)!;
  const name = model.messages.find((m) => m.type === type)!.name;
  return schemaArbitrary(model, name, { Residue: residue }) as fc.Arbitrary<JsonObject>;
}

function assertValid(version: string, type: string, value: unknown): void {
  const validate = versionGraph.validators[version]![type]! as ((v: unknown) => boolean) & { errors?: unknown };
  if (!validate(value)) throw new Error(`not a valid v${version} ${type}: ${JSON.stringify(validate.errors)}\n${JSON.stringify(value)}`);
}

function assertSame(actual: unknown, expected: unknown): void {
  if (!jsonEqual(actual, expected)) throw new Error(`round trip changed the message\nexpected ${JSON.stringify(expected)}\nactual   ${JSON.stringify(actual)}`);
}

describe("schema arbitraries", () => {
  it("sample the same messages for the same seed, built once or again (onex check --seed replays what it found)", () => {
    // Arbitraries built for one type and then another share parts (strings of one pattern): sharing must not change a sample.
    for (const [version, model] of models) {
      for (const { type } of model.messages) {
        const first = fc.sample(messages(version, type), { numRuns: 20, seed: 42 });
        for (const other of model.messages) fc.sample(messages(version, other.type), { numRuns: 5, seed: 7 });
        expect(fc.sample(messages(version, type), { numRuns: 20, seed: 42 }), `v${version} ${type}`).toEqual(first);
      }
    }
  });

  for (const [version, model] of models) {
    it(`sample only valid v${version} messages of every type`, () => {
      for (const { type } of model.messages) {
        fc.assert(fc.property(messages(version, type), (m) => assertValid(version, type, m)), { numRuns: 50 });
      }
    });
  }
});

for (const step of versionGraph.steps) {
  describe(`v${step.older} <-> v${step.newer}`, () => {
    for (const [type, pair] of Object.entries(step.pairs)) {
      it(`${type}: downgrade validates against v${step.older} and up(down(m)) == m`, () => {
        fc.assert(
          fc.property(messages(step.newer, type), (m) => {
            const down = runTransformStep(m, pair, "down");
            assertValid(step.older, type, down);
            assertSame(runTransformStep(down, pair, "up"), m);
          }),
          { numRuns: NUM_RUNS },
        );
      });

      it(`${type}: upgrade validates against v${step.newer} and down(up(m)) == m`, () => {
        fc.assert(
          fc.property(messages(step.older, type), (m) => {
            const up = runTransformStep(m, pair, "up");
            assertValid(step.newer, type, up);
            assertSame(runTransformStep(up, pair, "down"), m);
          }),
          { numRuns: NUM_RUNS },
        );
      });

      it(`${type}: an older message carrying the residue of another downgrade still round-trips`, () => {
        fc.assert(
          fc.property(messages(step.older, type), messages(step.newer, type), (m, other) => {
            const foreign = runTransformStep(other, pair, "down")._residue;
            const carrier = foreign === undefined ? m : { ...m, _residue: foreign };
            assertValid(step.older, type, carrier);
            const up = runTransformStep(carrier, pair, "up");
            assertValid(step.newer, type, up);
            assertSame(runTransformStep(up, pair, "down"), carrier);
          }),
          { numRuns: NUM_RUNS },
        );
      });
    }

    for (const type of step.newTypes) {
      it(`${type} (new in v${step.newer}) fails with ONEX_E_NO_COUNTERPART`, () => {
        fc.assert(
          fc.property(messages(step.newer, type), (m) => {
            expect(() => migrate(m, step.newer, step.older)).toThrow(expect.objectContaining({ code: "ONEX_E_NO_COUNTERPART", details: expect.objectContaining({ type }) }));
          }),
          { numRuns: 10 },
        );
      });
    }
  });
}

describe("composed paths", () => {
  const newest = versionGraph.versions.at(-1)!;
  const oldest = versionGraph.versions[0]!;
  const shared = models.get(newest)!.messages.map((m) => m.type).filter((t) => models.get(oldest)!.messages.some((m) => m.type === t));
  expect(shared.length).toBeGreaterThan(0);
  for (const type of shared) {
    it(`${type}: v${newest} -> v${oldest} validates at every step and comes back unchanged`, () => {
      fc.assert(
        fc.property(messages(newest, type), (m) => {
          const path = transforms.migrationPath(newest, oldest);
          let current: JsonObject = m;
          for (let i = 1; i < path.length; i++) {
            current = migrate(current, path[i - 1]!, path[i]!);
            assertValid(path[i]!, type, current);
          }
          assertSame(migrate(current, oldest, newest), m);
        }),
        { numRuns: NUM_RUNS },
      );
    });

    it(`${type}: v${oldest} -> v${newest} validates and comes back unchanged`, () => {
      fc.assert(
        fc.property(messages(oldest, type), (m) => {
          const up = migrate(m, oldest, newest);
          assertValid(newest, type, up);
          assertSame(migrate(up, newest, oldest), m);
        }),
        { numRuns: NUM_RUNS },
      );
    });
  }

  it("a type lost at a hop of a longer migration is named with the hop and the migration asked for", () => {
    // A step above the oldest version that added a type the newest version still has: going down, that type is lost at this step.
    const newestTypes = models.get(newest)!.messages.map((m) => m.type);
    const lost = versionGraph.steps.find((s) => s.older !== oldest && s.newTypes.some((t) => newestTypes.includes(t)));
    expect(lost).toBeDefined();
    const type = lost!.newTypes.find((t) => newestTypes.includes(t))!;
    const [m] = fc.sample(messages(newest, type), { numRuns: 1, seed: 1 });
    expect(() => migrate(m, newest, oldest)).toThrow(
      expect.objectContaining({
        code: "ONEX_E_NO_COUNTERPART",
        message: `message type "${type}" of v${lost!.newer} has no counterpart in v${lost!.older} (on the way from v${newest} to v${oldest})`,
        details: expect.objectContaining({ from: lost!.newer, to: lost!.older, migration: { from: newest, to: oldest } }),
      }),
    );
  });

  it("migrate() validates its input against the source version", () => {
    try {
      migrate({ type: "signal.state.update", payload: {} }, "0.2", "0.1");
      expect.unreachable();
    } catch (error) {
      expect(isOnexError(error, "ONEX_E_VALIDATION")).toBe(true);
    }
  });
});

describe("sample arbitraries", () => {
  it("a schema with a 200,000-value enum samples without overflowing the stack", () => {
    const values = Array.from({ length: 200_000 }, (_, i) => `v${i}`);
    const model = { schemas: [{ name: "Big", schema: { enum: values } }] } as unknown as VersionModel;
    const samples = fc.sample(schemaArbitrary(model, "Big"), { numRuns: 50, seed: 1 });
    expect(samples.every((s) => typeof s === "string" && values.includes(s))).toBe(true);
    expect(new Set(samples).size).toBeGreaterThan(1);
  });
});
