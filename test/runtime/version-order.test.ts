/** The one order of protocol versions is total, for the versions onex writes and for whatever a peer offers. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareVersions } from "../../runtime/version-order.js";

describe("compareVersions", () => {
  it("orders versions by numeric parts, a leading v ignored, missing parts as 0", () => {
    const sorted = ["v0.10", "0.2", "0.0.9", "0.1.1", "v0.1"].sort(compareVersions);
    expect(sorted).toEqual(["0.0.9", "v0.1", "0.1.1", "0.2", "v0.10"]);
    expect(compareVersions("0.1", "0.1.0")).toBe(0);
  });

  it("puts a part that is not a number after every number, and stays a total order on any text", () => {
    expect(compareVersions("0.3-beta", "0.3")).toBeGreaterThan(0);
    expect(compareVersions("0.x", "0.99")).toBeGreaterThan(0);
    const version = fc.oneof(fc.string({ maxLength: 8 }), fc.array(fc.oneof(fc.nat(20).map(String), fc.constantFrom("a", "b", "x-1", "")), { maxLength: 4 }).map((p) => p.join(".")));
    fc.assert(
      fc.property(version, version, version, (a, b, c) => {
        const ab = compareVersions(a, b);
        expect(Number.isNaN(ab)).toBe(false);
        expect(Math.sign(ab)).toBe(-Math.sign(compareVersions(b, a)) || 0);
        if (ab <= 0 && compareVersions(b, c) <= 0) expect(compareVersions(a, c)).toBeLessThanOrEqual(0);
      }),
      { numRuns: 2_000 },
    );
  });
});
