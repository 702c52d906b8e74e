/**
 * What the CLI prints of a message's text, fuzzed (errors.md, cli/terminal-text.ts): whatever a
 * field holds, its printed form holds no control character (C0, C1, DEL), no line or paragraph
 * separator, no format character (the bidirectional controls, zero-width and tag characters) and
 * no other character Unicode shows as nothing (variation selectors, Hangul fillers),
 * so a forged field cannot start a line, move the cursor, reorder what a reader sees or pass for
 * another; and printableJson is still JSON of the same value.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { printable, printableField, printableJson } from "../../cli/terminal-text.js";

const RUNS = { numRuns: 2_000 };

/**
 * What a terminal must not be handed raw: Unicode's Cc and Cf (Bidi_Control among them), the
 * other characters shown as nothing (Default_Ignorable_Code_Point: variation selectors, the
 * Hangul fillers), and the two separators.
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\u2028\u2029]/u;

/** Any text, and text made mostly of the characters that matter here (each Bidi_Control among them). */
const text = fc.oneof(
  fc.string({ unit: "binary" }),
  fc.string({ unit: fc.constantFrom("a", " ", "\\", "u", "{", "}", "\u001b", "[", "\u009b", "\u007f", "\n", "\r", "\u2028", "\u2029", "\u061c", "\u200e", "\u200f", "\u202a", "\u202e", "\u2066", "\u2069", "\u200b", "\u200d", "\ufeff", "\u00ad", "\u{e0041}", "\ufe0f", "\u034f", "\u3164", "\u{e0100}", "é", "\u{1F600}"), maxLength: 30 }),
);

describe("terminal text fuzz", () => {
  it("printable and printableField say no control character, whatever the text", () => {
    fc.assert(
      fc.property(text, fc.nat({ max: 3_000 }), (t, pad) => {
        expect(printable(t)).not.toMatch(UNSAFE);
        // Long enough to be cut in the middle.
        expect(printableField("x".repeat(pad) + t + "y".repeat(pad))).not.toMatch(UNSAFE);
      }),
      RUNS,
    );
  });

  it("printable leaves text without control characters as it is", () => {
    fc.assert(
      fc.property(text, (t) => {
        fc.pre(!UNSAFE.test(t));
        expect(printable(t)).toBe(t);
      }),
      RUNS,
    );
  });

  it("printableJson says no control character and reads back as the same value", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), fc.dictionary(text, text, { maxKeys: 3 }), fc.constantFrom(undefined, 2), (value, strings, indent) => {
        for (const v of [value, strings]) {
          const shown = printableJson(v, indent);
          expect(shown.replace(/\n */g, "")).not.toMatch(UNSAFE);
          expect(JSON.parse(shown)).toEqual(JSON.parse(JSON.stringify(v)));
        }
      }),
      RUNS,
    );
  });
});
