/** The one order of protocol versions: by numeric parts, so `0.0.9` < `0.1` < `0.2` < `0.10`. */

/** Orders protocol versions by numeric parts (negative when `a` is older). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
