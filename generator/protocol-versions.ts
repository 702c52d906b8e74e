/**
 * The one place that decides which folders of a schemas folder are protocol versions and in
 * which order they come. `generate`, `diff`, `check`, `asyncapi` and the reference site all
 * ask here, so they can never disagree on what the versions are.
 */
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { ErrorCode, OnexError, compareVersions } from "@onex/runtime";

/** A version folder: `v` and two or three dot-separated numbers without leading zeros (`v0.1`, `v0.0.9`, `v1.10.2`). */
const VERSION_FOLDER = /^v(0|[1-9]\d*)(\.(0|[1-9]\d*)){1,2}$/;
/** What a person means as a version folder: `v` and a digit. Anything like that which is not VERSION_FOLDER is refused, not skipped. */
const LOOKS_LIKE_VERSION = /^v\d/;

/** True for a version as written in a manifest (`0.1`, `0.0.9`). */
export function isVersion(version: string): boolean {
  return VERSION_FOLDER.test(`v${version}`);
}

/** The one order of protocol versions (the runtime's: negotiation and envelope layouts use it too). */
export { compareVersions };

/**
 * The versions a schemas folder holds (`0.0.9`, `0.1`...), oldest first. A folder that looks
 * like a version but is not one (`v0.3-draft`, `v1`, `v01.2`), a version folder without a
 * manifest.yaml, or two folders naming one version (`v0.1`, `v0.1.0`) is refused with
 * ONEX_E_VERSION_FOLDER: skipping it silently would leave the author wondering where it went.
 * An unreadable folder is ONEX_E_FILE_NOT_FOUND; an empty result is returned as is.
 */
export async function versionsIn(schemasDir: string): Promise<string[]> {
  const entries = await readdir(schemasDir, { withFileTypes: true }).catch((cause: unknown) => {
    throw new OnexError(ErrorCode.FileNotFound, `schemas folder ${schemasDir} cannot be read`, { file: schemasDir }, { cause });
  });
  const versions: string[] = [];
  for (const entry of entries) {
    if (!LOOKS_LIKE_VERSION.test(entry.name)) continue;
    const folder = join(schemasDir, entry.name);
    // Skipped, a link or a file named like a version dropped that version, and generate then
    // deleted the SDK it had written for it.
    if (!entry.isDirectory()) {
      // Other files (notes named v2-plan.md) are not versions.
      if (!entry.isSymbolicLink() && !VERSION_FOLDER.test(entry.name)) continue;
      throw new OnexError(ErrorCode.VersionFolder, `${folder}: "${entry.name}" is named like a version folder but is ${entry.isSymbolicLink() ? "a symbolic link" : "not a folder"}; a version's schemas live in a folder of the schemas folder itself: copy it in, or rename it`, {
        file: folder,
        folder: entry.name,
      });
    }
    if (!VERSION_FOLDER.test(entry.name)) {
      throw new OnexError(
        ErrorCode.VersionFolder,
        `${folder}: folder "${entry.name}" looks like a protocol version but is not one (v<major>.<minor> or v<major>.<minor>.<patch>, numbers without leading zeros); rename it, or move it out of the schemas folder`,
        { file: folder, folder: entry.name },
      );
    }
    if (!existsSync(join(folder, "manifest.yaml"))) {
      throw new OnexError(ErrorCode.VersionFolder, `${folder}: version folder "${entry.name}" has no manifest.yaml`, { file: folder, folder: entry.name });
    }
    versions.push(entry.name.slice(1));
  }
  versions.sort(compareVersions);
  for (let i = 1; i < versions.length; i++) {
    if (compareVersions(versions[i - 1]!, versions[i]!) === 0) {
      throw new OnexError(ErrorCode.VersionFolder, `${schemasDir}: folders v${versions[i - 1]} and v${versions[i]} name the same protocol version; keep one`, {
        file: schemasDir,
        folder: `v${versions[i]}`,
      });
    }
  }
  return versions;
}

/** Like versionsIn, but an empty schemas folder is ONEX_E_FILE_NOT_FOUND: every command that loads versions needs one. */
export async function requireVersionsIn(schemasDir: string): Promise<string[]> {
  const versions = await versionsIn(schemasDir);
  if (versions.length === 0) {
    throw new OnexError(ErrorCode.FileNotFound, `no version folders (v<version>/manifest.yaml) in ${schemasDir}`, { file: schemasDir });
  }
  return versions;
}
