import { join, resolve, dirname } from "node:path";
import { Flags } from "@oclif/core";
import { loadVersion } from "../../generator/load-version.js";
import { versionGraph } from "../../generated/transforms/index.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { runTransformStep, type JsonObject } from "../../runtime/transform.js";
import { OnexCommand } from "../base-command.js";

export default class Check extends OnexCommand {
  static override summary = "Prove the version transforms sound on sampled messages.";
  static override description =
    "Samples valid messages of every type of each version from its JSON Schemas (fast-check), runs every transform in both directions and validates the result against the target version. Fails with ONEX_E_TRANSFORM_UNSOUND naming the type, the sample and the failing path. Run it in CI after `onex generate --check`.";
  static override examples = ["<%= config.bin %> check", "<%= config.bin %> check --samples 1000 --seed 42"];

  static override flags = {
    samples: Flags.integer({ description: "Messages sampled per type and direction.", default: 200, min: 1 }),
    seed: Flags.integer({ description: "fast-check seed, to replay a failure (default: random, printed)." }),
    schemas: Flags.string({ description: "Schemas folder the SDK was generated from.", default: "schemas" }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Check);
    // fast-check is needed only here; loading it lazily keeps every other command free of it.
    const fc = (await import("fast-check")).default;
    const { residueArbitrary, schemaArbitrary } = await import("../../generator/transforms/schema-arbitrary.js");
    const schemasDir = resolve(flags.schemas);
    const seed = flags.seed ?? Math.floor(Math.random() * 2 ** 31);
    const residue = residueArbitrary(versionGraph.versions);
    const models = new Map(
      await Promise.all(versionGraph.versions.map(async (v) => [v, (await loadVersion(schemasDir, `v${v}`, dirname(schemasDir))).model] as const)),
    );
    let checked = 0;
    for (const step of versionGraph.steps) {
      for (const [type, pair] of Object.entries(step.pairs)) {
        for (const direction of ["up", "down"] as const) {
          const [source, target] = direction === "up" ? [step.older, step.newer] : [step.newer, step.older];
          const model = models.get(source)!;
          const name = model.messages.find((m) => m.type === type)!.name;
          const validate = versionGraph.validators[target]![type]! as ((v: unknown) => boolean) & { errors?: { instancePath: string; schemaPath: string; message?: string }[] | null };
          for (const sample of fc.sample(schemaArbitrary(model, name, { Residue: residue }), { numRuns: flags.samples, seed: seed + checked })) {
            const out = runTransformStep(sample as JsonObject, pair, direction);
            if (!validate(out)) {
              const issue = validate.errors?.[0];
              throw new OnexError(
                ErrorCode.TransformUnsound,
                `${type} v${source} -> v${target}: the result fails v${target} at ${issue?.instancePath || "/"} (${issue?.message ?? "invalid"}) [${issue?.schemaPath ?? ""}]\n  sample: ${JSON.stringify(sample)}\n  result: ${JSON.stringify(out)}\n  replay: onex check --seed ${seed}`,
                { type, from: source, to: target, instancePath: issue?.instancePath, schemaPath: issue?.schemaPath, sample, seed },
              );
            }
          }
          checked++;
        }
      }
    }
    this.logToStderr(`transforms sound: ${checked} type/direction pairs x ${flags.samples} samples validated (seed ${seed}; schemas ${join(flags.schemas)})`);
  }
}
