import { fstatSync, realpathSync, statSync, type BigIntStats } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";

/** Whether two paths name one file: the same path once folder links are followed, or (both existing) the same file through a link. */
export function sameFile(a: string, b: string): boolean {
  const real = (path: string) => {
    try {
      return join(realpathSync(dirname(resolve(path))), basename(path));
    } catch {
      return resolve(path);
    }
  };
  if (real(a) === real(b)) return true;
  try {
    const [x, y] = [statSync(a), statSync(b)];
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/**
 * Whether `path` names the input `input`: that file, or for `-` the file standard input is
 * redirected from (`onex migrate v0.1 v0.2 - --out log --force < log` replaced the log, and the
 * messages not written were lost, as with the log named).
 */
export function namesInput(path: string, input: string): boolean {
  if (input !== "-") return sameFile(path, input);
  try {
    const stdin = fstatSync(0, { bigint: true });
    const stat = statSync(path, { bigint: true, throwIfNoEntry: false });
    return stat !== undefined && stdin.isFile() && stat.dev === stdin.dev && stat.ino === stdin.ino;
  } catch {
    return false; // stdin closed, a loop of links: nothing is read from the output's file
  }
}

/**
 * Whether standard output is the regular file `file` (bigint stats, as the input reader takes
 * them): `onex sign log >> log` read back what it wrote, without end, until the disk was full,
 * and `> log` emptied the input before the command began, which then read nothing and succeeded.
 */
export function isStandardOutput(file: BigIntStats): boolean {
  if (!file.isFile()) return false;
  let stdout: BigIntStats;
  try {
    stdout = fstatSync(1, { bigint: true });
  } catch {
    return false; // closed: nothing is written anywhere
  }
  return stdout.isFile() && stdout.dev === file.dev && stdout.ino === file.ino;
}

/** Whether the file at `path` (followed through links) is standard output's; false when there is none. */
export function pathIsStandardOutput(path: string): boolean {
  try {
    const stat = statSync(path, { bigint: true, throwIfNoEntry: false });
    return stat !== undefined && isStandardOutput(stat);
  } catch {
    return false; // a loop of links, a part that is no folder: the output's own check reports it
  }
}
