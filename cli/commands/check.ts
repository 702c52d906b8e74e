import { dirname, relative } from "node:path";
import { Flags } from "@oclif/core";
import { ErrorCode, OnexError } from "@onex/runtime";
import { loadVersion } from "../../generator/load-version.js";
import type { VersionModel } from "../../generator/model.js";
import type { Lens } from "../../generator/transforms/load-transforms.js";
import { OnexCommand } from "../base-command.js";
import { checkOnWorker, type CheckHop } from "../check-pool.js";
import { MAX_WAIT_MS, parseDuration } from "../duration.js";
import { reportingEachProblem } from "../problem-lines.js";
import { openProjectSdk } from "../sdk.js";
import { sdkFlags } from "../sdk-flags.js";

const MAX_SAMPLES = 100_000;

export default class Check extends OnexCommand {
  protected override readonly readsSchemas = true;

  static override summary = "Prove the version transforms sound on sampled messages.";
  static override description =
    "Samples valid messages of every type of each version from its JSON Schemas (fast-check, residue included), runs every transform in both directions and every composed path between versions further apart, validates each result against the target version and checks that the way back restores the input exactly. Fails with ONEX_E_TRANSFORM_UNSOUND naming the type, the versions, the sample and the failing path. Transforms run on a worker thread: a step that runs past --message-timeout on one sample (an escape function that never returns) ends the check with ONEX_E_TRANSFORM_UNSOUND naming the step and its escape functions. Checks the transforms generated from --schemas (ONEX_E_SDK_STALE when they are not current). Run it in CI after `onex generate --check`.";
  static override examples = ["<%= config.bin %> check", "<%= config.bin %> check --samples 1000 --seed 42"];

  static override flags = {
    // Each type's samples are held at once: 10^20 grew the process until it was killed.
    samples: Flags.integer({ description: "Messages sampled per type and direction (at most 100,000).", default: 200, min: 1, max: MAX_SAMPLES }),
    // fast-check keeps 32 bits of a seed: 2^32 sampled what 0 did, and past 2^53 a replay's seed was not the one printed.
    seed: Flags.integer({ description: "fast-check seed, to replay a failure (default: random, printed).", min: 0, max: 2 ** 31 - 1 }),
    "message-timeout": Flags.string({ description: "How long one transform step may run on one sample (an escape function that never returns): past it the check is stopped with ONEX_E_TRANSFORM_UNSOUND naming the step.", default: "10s" }),
    ...sdkFlags,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Check);
    const timeoutMs = parseDuration(flags["message-timeout"], "message-timeout", { min: 1, max: MAX_WAIT_MS });
    // The transforms checked are the ones generated from these schemas (ONEX_E_SDK_STALE when they are not current).
    const project = await openProjectSdk(flags);
    const schemasDir = project.schemasDir;
    // Not imported here: the transforms' modules run their top-level code on the worker, under its watchdog.
    const versions = project.versions;
    const seed = flags.seed ?? Math.floor(Math.random() * 2 ** 31);
    const models = new Map<string, VersionModel>();
    await reportingEachProblem(
      (line) => this.logToStderr(line),
      async () => {
        for (const v of versions) models.set(v, (await loadVersion(schemasDir, `v${v}`, dirname(schemasDir))).model);
      },
    );
    // On a worker (fast-check is loaded there only): an escape function that never returns holds it, not this thread.
    const outcome = await checkOnWorker({ transforms: project.transformsUrl, models: [...models], samples: flags.samples, seed }, timeoutMs);
    if ("timedOut" in outcome) throw await stepTimedOut(outcome.timedOut, timeoutMs, seed, schemasDir, models);
    const { steps, paths, gaps } = outcome.result;
    this.logToStderr(
      `transforms sound: ${steps} type/direction pairs and ${paths} type/composed-path pairs x ${flags.samples} samples validated and round-tripped (seed ${seed}; ${versions.map((v) => `v${v}`).join(", ")} of ${relative(process.cwd(), schemasDir) || "."})`,
    );
    // Said, not failed: a version may break with its past on purpose (docs/versioning.md), and migrate refuses the paths across it.
    if (gaps.length > 0) this.logToStderr(`no transform between ${gaps.join(", ")}: no message is migrated across, and no path across is checked`);
  }
}

/** ONEX_E_TRANSFORM_UNSOUND for the step that ran past the time limit, naming the escape functions it calls (read from its transform file). */
async function stepTimedOut(hop: CheckHop | undefined, timeoutMs: number, seed: number, schemasDir: string, models: ReadonlyMap<string, VersionModel>): Promise<OnexError> {
  const replay = `replay: onex check --seed ${seed}`;
  if (hop === undefined) return new OnexError(ErrorCode.TransformUnsound, `loading the transforms did not finish within ${timeoutMs} ms (top-level code of an escape-function file that never ends?); the check was stopped`, { seed, lines: [replay] });
  const { loadTransforms } = await import("../../generator/transforms/load-transforms.js");
  const transforms = await loadTransforms(schemasDir, [...models.values()], dirname(schemasDir)).catch(() => []);
  const up = transforms.find((t) => t.from === hop.from && t.to === hop.to);
  const file = up ?? transforms.find((t) => t.from === hop.to && t.to === hop.from);
  const names = file === undefined ? [] : [...new Set(escapesOf([...file.envelope, ...(file.types.get(hop.type) ?? [])]).map((lens) => (up !== undefined ? lens.up : lens.down)))];
  const where = file?.functions === undefined || names.length === 0 ? "" : ` (${names.length === 1 ? "escape function" : "one of its escape functions"} ${names.join(", ")} of ${file.functions.file} never returned?)`;
  return new OnexError(ErrorCode.TransformUnsound, `${hop.type} v${hop.from} -> v${hop.to}: the transform did not finish within ${timeoutMs} ms on a sample${where}; the check was stopped`, {
    type: hop.type,
    from: hop.from,
    to: hop.to,
    seed,
    ...(names.length > 0 ? { functions: names } : {}),
    lines: [replay],
  });
}

/** The escape lenses among `lenses`, those inside `in` and `map` too. */
function escapesOf(lenses: readonly Lens[]): Extract<Lens, { kind: "escape" }>[] {
  return lenses.flatMap((lens) => (lens.kind === "escape" ? [lens] : lens.kind === "in" || lens.kind === "map" ? escapesOf(lens.lenses) : []));
}
