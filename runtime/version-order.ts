/**
 * The one order of protocol versions, shared by the runtime (negotiation, envelope layouts),
 * the generator and the CLI (generator/protocol-versions.ts re-exports it).
 */

/** Orders `0.0.9` < `0.1` < `0.2` < `0.10` (a leading `v` is ignored) by numeric parts; `0.1` equals `0.1.0`. Negative when `a` is older. */
export function compareVersions(a: string, b: string): number {
  const pa = a.replace(/^v/, "").split(".").map(Number);
  const pb = b.replace(/^v/, "").split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
