import { realpathSync, statSync } from "node:fs";
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
