/**
 * The one order of protocol versions, shared by the runtime (negotiation, envelope layouts),
 * the generator and the CLI (generator/protocol-versions.ts re-exports it).
 */
import { ErrorCode, OnexError } from "./errors.js";
import { describeValue } from "./option-check.js";

/**
 * Orders `0.0.9` < `0.1` < `0.2` < `0.10` (a leading `v` is ignored) by numeric parts; `0.1`
 * equals `0.1.0`. A part that is not a number (a peer may offer anything) is compared as text,
 * after every number, so the order stays total. Negative when `a` is older.
 */
export function compareVersions(a: string, b: string): number {
  // A version left out (undefined) was a raw TypeError at replace.
  if (typeof a !== "string" || typeof b !== "string") {
    throw new OnexError(ErrorCode.Usage, `compareVersions: a version must be text (<major>.<minor>[.<patch>], a leading v allowed), not ${describeValue(typeof a !== "string" ? a : b)}`);
  }
  const pa = a.replace(/^v/, "").split(".");
  const pb = b.replace(/^v/, "").split(".");
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = comparePart(pa[i] ?? "0", pb[i] ?? "0");
    if (d !== 0) return d;
  }
  return 0;
}

function comparePart(a: string, b: string): number {
  const numeric = /^\d+$/;
  if (numeric.test(a) && numeric.test(b)) return Number(a) - Number(b);
  if (numeric.test(a)) return -1;
  if (numeric.test(b)) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
