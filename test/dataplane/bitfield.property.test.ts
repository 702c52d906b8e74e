/**
 * Bitfield reads and merges a peer's bytes a byte at a time (runtime/dataplane/bitfield.ts):
 * what it holds must be exactly the bits below `length`, read one by one, with the spare bits of
 * the last byte ignored, and its count those bits' number.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Bitfield } from "../../runtime/dataplane/bitfield.js";

describe("Bitfield", () => {
  it("holds the bits below its length, one by one, and counts them", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }).chain((length) => fc.tuple(fc.constant(length), fc.uint8Array({ minLength: Math.ceil(length / 8), maxLength: Math.ceil(length / 8) }))),
        ([length, bytes]) => {
          const field = Bitfield.fromBase64url(Buffer.from(bytes).toString("base64url"), length);
          const bits = Array.from({ length }, (_, i) => (bytes[i >> 3]! & (0x80 >> (i & 7))) !== 0);
          expect(Array.from({ length }, (_, i) => field.has(i))).toEqual(bits);
          expect(field.count).toBe(bits.filter(Boolean).length);
          expect(field.complete).toBe(bits.every(Boolean));
          expect(field.missing()).toEqual(bits.flatMap((set, i) => (set ? [] : [i])));
          // What it writes back has the spare bits cleared, and reads the same.
          const again = Bitfield.fromBytes(field.toBytes(), length);
          expect(again.toBase64url()).toBe(field.toBase64url());
          expect(again.count).toBe(field.count);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("merges another's pieces, naming each piece it did not hold, in order", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }).chain((length) => {
          const bytes = fc.uint8Array({ minLength: Math.ceil(length / 8), maxLength: Math.ceil(length / 8) });
          return fc.tuple(fc.constant(length), bytes, bytes);
        }),
        ([length, mine, theirs]) => {
          const field = Bitfield.fromBytes(mine, length);
          const other = Bitfield.fromBytes(theirs, length);
          const before = Array.from({ length }, (_, i) => field.has(i));
          const added: number[] = [];
          field.merge(other, (i) => added.push(i));
          expect(added).toEqual(before.flatMap((held, i) => (!held && other.has(i) ? [i] : [])));
          expect(Array.from({ length }, (_, i) => field.has(i))).toEqual(before.map((held, i) => held || other.has(i)));
          expect(field.count).toBe(Array.from({ length }, (_, i) => field.has(i)).filter(Boolean).length);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("is refused at any other byte length, and full() sets every piece", () => {
    expect(() => Bitfield.fromBase64url(Buffer.alloc(3).toString("base64url"), 17)).not.toThrow();
    expect(() => Bitfield.fromBase64url(Buffer.alloc(2).toString("base64url"), 17)).toThrow(/3 bytes, not 2/);
    expect(() => Bitfield.full(13).merge(Bitfield.full(16), () => {})).toThrow(/16 pieces merged into one of 13/);
    const full = Bitfield.full(13);
    expect(full.count).toBe(13);
    expect(full.complete).toBe(true);
    expect(full.toBase64url()).toBe(Buffer.from([0xff, 0xf8]).toString("base64url"));
  });
});
