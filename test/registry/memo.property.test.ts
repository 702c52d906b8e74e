/**
 * The registry's memos (runtime/registry/memo.ts), kept in two generations: a value asked for
 * is always the one `make` gives; a key asked for again before half the bound of other keys were
 * asked for since is not made again; and the memo never holds more than its bound.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Memo } from "../../runtime/registry/memo.js";

describe("Memo", () => {
  it("gives make's value, makes a key again only once half its bound of other keys were asked for since, and holds at most its bound", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 16 }), fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 300 }), (size, asks) => {
        const memo = new Memo<string>(size);
        const made: number[] = [];
        // The other keys asked for since each key was last asked for.
        const askedSince = new Map<number, Set<number>>();
        for (const key of asks) {
          const before = made.length;
          expect(memo.get(String(key), () => (made.push(key), `value of ${key}`))).toBe(`value of ${key}`);
          if (askedSince.has(key) && askedSince.get(key)!.size < size >> 1) expect(made.length).toBe(before);
          for (const [k, others] of askedSince) if (k !== key) others.add(key);
          askedSince.set(key, new Set());
        }
        // Everything asked again: what was remembered is not made, and no more than `size` is.
        const distinct = [...new Set(asks)];
        const before = made.length;
        for (const key of distinct) memo.get(String(key), () => (made.push(key), `value of ${key}`));
        const remembered = distinct.length - (made.length - before);
        expect(remembered).toBeLessThanOrEqual(size);
      }),
    );
  });

  it("does not remember what make throws", () => {
    const memo = new Memo<string>(8);
    expect(() => memo.get("k", () => { throw new Error("no"); })).toThrow("no");
    expect(memo.get("k", () => "made")).toBe("made");
  });
});
