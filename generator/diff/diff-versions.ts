/** `onex diff` as a function: load every version of a schemas folder and its transforms, then report old -> new. */
import { ErrorCode, OnexError } from "@onex/runtime";
import { loadVersion } from "../load-version.js";
import { Problems } from "../problems.js";
import { versionsIn } from "../protocol-versions.js";
import type { VersionModel } from "../model.js";
import { loadTransforms } from "../transforms/load-transforms.js";
import { chainReport, diffModels, type DiffReport } from "./report.js";

// The asyncapi tests import versionsIn from here; the rule itself lives in protocol-versions.ts.
export { versionsIn } from "../protocol-versions.js";

/**
 * Diffs version `from` against the later version `to` (given as `v0.2` or `0.2`) of the
 * schemas in `schemasDir`. Adjacent versions get coverage from their transform file; for
 * versions further apart the direct diff is paired with one covered report per hop.
 */
export async function diffVersions(schemasDir: string, from: string, to: string, displayRoot: string): Promise<DiffReport> {
  const known = await versionsIn(schemasDir);
  const pick = (input: string) => {
    const version = input.replace(/^v/, "");
    if (!known.includes(version)) {
      throw new OnexError(ErrorCode.UnknownVersion, `unknown protocol version "${input}" in ${schemasDir} (known: ${known.map((v) => `v${v}`).join(", ")})`, { version: input });
    }
    return version;
  };
  const oldVersion = pick(from);
  const newVersion = pick(to);
  const oldIndex = known.indexOf(oldVersion);
  const newIndex = known.indexOf(newVersion);
  if (oldIndex >= newIndex) {
    const hint = oldIndex === newIndex ? "name two different versions" : `try onex diff v${newVersion} v${oldVersion}`;
    throw new OnexError(ErrorCode.Usage, `onex diff compares an older version with a newer one; v${oldVersion} is not older than v${newVersion} (${hint})`, {
      from: oldVersion,
      to: newVersion,
    });
  }
  // Transforms are checked against the version before theirs, so load every version up to `to`.
  // Every version is loaded before reporting, so one run names the mistakes of all of them.
  const problems = new Problems();
  const models: VersionModel[] = [];
  for (const version of known.slice(0, newIndex + 1)) {
    const loaded = await problems.collect(() => loadVersion(schemasDir, `v${version}`, displayRoot));
    if (loaded) models.push(loaded.model);
  }
  problems.throwIfAny();
  const transforms = await loadTransforms(schemasDir, models, displayRoot);
  const step = (i: number) => diffModels(models[i - 1]!, models[i]!, transforms.find((t) => t.from === models[i - 1]!.version && t.to === models[i]!.version));
  if (newIndex === oldIndex + 1) return step(newIndex);
  const hops: DiffReport[] = [];
  for (let i = oldIndex + 1; i <= newIndex; i++) hops.push(step(i));
  return chainReport(diffModels(models[oldIndex]!, models[newIndex]!, undefined, false), hops);
}
