import { dirname, relative } from "node:path";
import { Flags } from "@oclif/core";
import { loadVersion } from "../../generator/load-version.js";
import type { VersionModel } from "../../generator/model.js";
import { OnexCommand } from "../base-command.js";
import { reportingEachProblem } from "../problem-lines.js";
import { openProjectSdk } from "../sdk.js";
import { sdkFlags } from "../sdk-flags.js";

const MAX_SAMPLES = 100_000;

export default class Check extends OnexCommand {
  static override summary = "Prove the version transforms sound on sampled messages.";
  static override description =
    "Samples valid messages of every type of each version from its JSON Schemas (fast-check, residue included), runs every transform in both directions and every composed path between versions further apart, validates each result against the target version and checks that the way back restores the input exactly. Fails with ONEX_E_TRANSFORM_UNSOUND naming the type, the versions, the sample and the failing path. Checks the transforms generated from --schemas (ONEX_E_SDK_STALE when they are not current). Run it in CI after `onex generate --check`.";
  static override examples = ["<%= config.bin %> check", "<%= config.bin %> check --samples 1000 --seed 42"];

  static override flags = {
    // Each type's samples are held at once: 10^20 grew the process until it was killed.
    samples: Flags.integer({ description: "Messages sampled per type and direction (at most 100,000).", default: 200, min: 1, max: MAX_SAMPLES }),
    // fast-check keeps 32 bits of a seed: 2^32 sampled what 0 did, and past 2^53 a replay's seed was not the one printed.
    seed: Flags.integer({ description: "fast-check seed, to replay a failure (default: random, printed).", min: 0, max: 2 ** 31 - 1 }),
    ...sdkFlags,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Check);
    // fast-check is needed only here; loading the checker lazily keeps every other command free of it.
    const { checkVersionGraph } = await import("../../generator/transforms/check-transforms.js");
    // The transforms checked are the ones generated from these schemas (ONEX_E_SDK_STALE when they are not current).
    const project = await openProjectSdk(flags);
    const schemasDir = project.schemasDir;
    const { versionGraph } = await project.transforms();
    const seed = flags.seed ?? Math.floor(Math.random() * 2 ** 31);
    const models = new Map<string, VersionModel>();
    await reportingEachProblem(
      (line) => this.logToStderr(line),
      async () => {
        for (const v of versionGraph.versions) models.set(v, (await loadVersion(schemasDir, `v${v}`, dirname(schemasDir))).model);
      },
    );
    const { steps, paths } = checkVersionGraph(versionGraph, models, { samples: flags.samples, seed });
    this.logToStderr(
      `transforms sound: ${steps} type/direction pairs and ${paths} type/composed-path pairs x ${flags.samples} samples validated and round-tripped (seed ${seed}; ${versionGraph.versions.map((v) => `v${v}`).join(", ")} of ${relative(process.cwd(), schemasDir) || "."})`,
    );
  }
}
