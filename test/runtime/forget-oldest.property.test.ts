/**
 * forgetOldest forgets the oldest 64th of a Map at once (runtime/forget-oldest.ts): it must
 * forget exactly the first entries in insertion order, whatever happened to the map before —
 * insertions, updates in place, re-insertions, deletions anywhere, clear, the map emptied and
 * filled again, V8 rebuilding its table as it grows and shrinks — and keep no hold on the map.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { forgetOldest } from "../../runtime/forget-oldest.js";

type Op = { kind: "set" | "update" | "reinsert" | "delete"; key: number } | { kind: "forget" } | { kind: "clear" } | { kind: "fill"; count: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constantFrom("set" as const, "update" as const, "reinsert" as const, "delete" as const), key: fc.integer({ min: 0, max: 40 }) }) },
  { weight: 4, arbitrary: fc.constant({ kind: "forget" as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("fill" as const), count: fc.integer({ min: 1, max: 300 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "clear" as const }) },
);

describe("forgetOldest", () => {
  it("forgets the first entry in insertion order, as a fresh iterator finds it", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const map = new Map<number, number>();
        let fresh = 1_000;
        for (const o of ops) {
          if (o.kind === "set") map.set(o.key, o.key);
          else if (o.kind === "update") {
            if (map.has(o.key)) map.set(o.key, -o.key);
          } else if (o.kind === "reinsert") {
            map.delete(o.key);
            map.set(o.key, o.key);
          } else if (o.kind === "delete") map.delete(o.key);
          else if (o.kind === "clear") map.clear();
          else if (o.kind === "fill") for (let i = 0; i < o.count; i++, fresh++) map.set(fresh, fresh);
          else {
            const entries = [...map];
            const count = Math.max(1, entries.length >> 6);
            const forgotten = forgetOldest(map);
            expect(forgotten).toEqual(entries.slice(0, count));
            expect([...map]).toEqual(entries.slice(count));
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it("trims a map as a first-in, first-out memory of its last entries, between 63/64 of its bound and its bound", () => {
    const map = new Map<string, number>();
    for (let i = 0; i < 50_000; i++) {
      map.set(`id-${i}`, i);
      if (map.size > 1_024) forgetOldest(map);
      expect(map.size).toBeGreaterThanOrEqual(Math.min(i + 1, 1_024 - 16));
      expect(map.size).toBeLessThanOrEqual(1_024);
    }
    const values = [...map.values()];
    expect(values).toEqual(Array.from({ length: values.length }, (_, i) => 50_000 - values.length + i));
  });
});
