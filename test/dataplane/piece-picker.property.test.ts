/**
 * The fetcher's rarest-first order is kept a change at a time (runtime/dataplane/piece-picker.ts).
 * After any sequence of offers, withdrawals and pieces taken, a walk must give exactly the wanted
 * pieces some peer offers, each once, fewest offers first, and among equal counts in index order
 * from one start (a run that wraps around at most once); a mask must hold back exactly the
 * pieces it clears, and a visit that returns false must end the walk.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PiecePicker } from "../../runtime/dataplane/piece-picker.js";

type Step = { op: "offer" | "withdraw" | "take"; piece: number };

/** A picker and a plain model of it after `steps` (withdrawals of unoffered pieces are skipped, as the fetcher never makes them). */
function replay(length: number, held: Set<number>, steps: Step[]): { picker: PiecePicker; offers: number[]; wanted: Set<number> } {
  const picker = new PiecePicker(length, (piece) => held.has(piece));
  const offers = new Array<number>(length).fill(0);
  const wanted = new Set(Array.from({ length }, (_, i) => i).filter((i) => !held.has(i)));
  for (const { op, piece } of steps) {
    if (op === "offer") {
      picker.offer(piece);
      offers[piece]!++;
    } else if (op === "withdraw") {
      if (offers[piece] === 0) continue;
      picker.withdraw(piece);
      offers[piece]!--;
    } else {
      picker.take(piece);
      wanted.delete(piece);
    }
  }
  return { picker, offers, wanted };
}

const scenario = fc.integer({ min: 1, max: 120 }).chain((length) =>
  fc.record({
    length: fc.constant(length),
    held: fc.uniqueArray(fc.nat(length - 1), { maxLength: length }),
    steps: fc.array(fc.record({ op: fc.constantFrom<Step["op"]>("offer", "offer", "withdraw", "take"), piece: fc.nat(length - 1) }), { maxLength: 400 }),
    mask: fc.uint8Array({ minLength: Math.ceil(length / 8), maxLength: Math.ceil(length / 8) }),
  }),
);

function walk(picker: PiecePicker, mask: (byte: number) => number = () => 0xff): number[] {
  const seen: number[] = [];
  picker.forEachRarest(mask, (piece) => (seen.push(piece), true));
  return seen;
}

describe("PiecePicker", () => {
  it("walks the wanted, offered pieces once each, rarest first, each count in index order from one start", () => {
    fc.assert(
      fc.property(scenario, ({ length, held, steps }) => {
        const { picker, offers, wanted } = replay(length, new Set(held), steps);
        const seen = walk(picker);
        const expected = [...wanted].filter((piece) => offers[piece]! > 0);
        expect([...seen].sort((a, b) => a - b)).toEqual(expected.sort((a, b) => a - b));
        for (let i = 0; i < length; i++) expect(picker.offersOf(i)).toBe(offers[i]);
        const counts = seen.map((piece) => offers[piece]!);
        expect(counts).toEqual([...counts].sort((a, b) => a - b));
        // Within a count, one ascending run that may wrap once.
        for (const count of new Set(counts)) {
          const run = seen.filter((piece) => offers[piece] === count);
          const descents = run.filter((piece, i) => i > 0 && piece < run[i - 1]!).length;
          expect(descents).toBeLessThanOrEqual(1);
          if (descents === 1) expect(run[0]!).toBeGreaterThan(run[run.length - 1]!);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("passes over exactly what the mask clears, and stops when a visit says so", () => {
    fc.assert(
      fc.property(scenario, fc.nat(), ({ length, held, steps, mask }, stopAfter) => {
        const { picker } = replay(length, new Set(held), steps);
        const all = walk(picker);
        const masked = walk(picker, (byte) => mask[byte]!);
        expect(masked).toEqual(all.filter((piece) => (mask[piece >> 3]! & (0x80 >> (piece & 7))) !== 0));
        const stopped: number[] = [];
        const limit = all.length === 0 ? 0 : (stopAfter % all.length) + 1;
        picker.forEachRarest(
          () => 0xff,
          (piece) => (stopped.push(piece), stopped.length < limit),
        );
        expect(stopped).toEqual(all.slice(0, limit));
      }),
      { numRuns: 300 },
    );
  });

  it("starts each picker's walk at a piece of its own, so fetchers starting together ask for different pieces", () => {
    const firsts = new Set<number>();
    for (let fetcher = 0; fetcher < 64; fetcher++) {
      const picker = new PiecePicker(8, () => false);
      for (let piece = 0; piece < 8; piece++) picker.offer(piece);
      firsts.add(walk(picker)[0]!);
    }
    // 64 pickers all starting at one piece of 8 happens once in 8^63 runs.
    expect(firsts.size).toBeGreaterThan(1);
  });

  it("refuses to count a piece withdrawn by more peers than offered it", () => {
    const picker = new PiecePicker(8, () => false);
    picker.offer(3);
    picker.withdraw(3);
    expect(() => picker.withdraw(3)).toThrowError(expect.objectContaining({ code: "ONEX_E_INTERNAL" }));
  });
});
