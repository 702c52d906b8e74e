/**
 * Where a path really is, and whether it lies in a folder: output paths are held to them so no
 * output lands among the inputs, and input paths a manifest or transform names so no input is
 * read from elsewhere on the build machine.
 */
import { existsSync, realpathSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, sep } from "node:path";

/** `path` with links resolved: its own real path, or its nearest existing folder's with the rest appended (a file not yet written). */
export function realPathOf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(realPathOf(parent), basename(path));
  }
}

/** Whether `path` is `folder` or inside it. */
export function isWithin(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/**
 * Why `abs`, a file a manifest or transform names, is not a file of `folder`, or undefined when it
 * is: a path climbing out with `..` (or absolute), or a link inside the folder pointing
 * elsewhere, would read, and publish in generated/, any file of the build machine. The folder
 * itself is no file of it. A file that does not exist is left to the caller to report.
 */
export function outsideFolder(folder: string, abs: string, what: string): string | undefined {
  if (abs === folder || !isWithin(abs, folder)) return `lies outside the ${what}`;
  if (!existsSync(abs)) return undefined;
  // Both sides resolved, so a schemas folder reached through a link still holds its own files.
  const real = realpathSync(abs);
  const realFolder = realpathSync(folder);
  return real !== realFolder && isWithin(real, realFolder) ? undefined : `is a link to a file outside the ${what}`;
}
