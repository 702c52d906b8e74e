/**
 * parseJson's quickest check: when no ":" in a text follows whitespace, JSON.parse's value is
 * kept if it holds as many members as the text has ":" right after a '"' (a dropped duplicate
 * makes it hold fewer). These properties aim at that check with compact text whose names
 * repeat and whose strings hold the ":" and '"' that could fool a count — strings starting
 * with ":", escaped quotes before a ":", names ending in an escaped backslash — and compare
 * parseJson with the exact reader: same value, or the same error.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseJson, parseJsonExact, type JsonParseOptions } from "../../runtime/json-text.js";
import { outcome } from "./json-outcome.js";

const BIGINT: JsonParseOptions = { bigIntegers: "bigint" };

/** Names that repeat, some holding the characters a count of '":' could trip on. */
const name = fc.constantFrom("a", "b", "a", ":", 'x\\"', "x\\\\", "\\u0022", '\\":', "__proto__");
/** Strings with ":" and '"' where they could be mistaken for a member's end. */
const string = fc.constantFrom('":"', '"::"', '":a"', '"\\":"', '"a\\":b"', '"\\\\"', '"x"', '""', '"\\u003a"');
const number = fc.constantFrom("0", "-0", "1.5", "9007199254740991", "9007199254740993", "1e400", "12345678901234567890.5");
/** A colon, now and then with whitespace before it (the general check's case). */
const colon = fc.constantFrom(":", ":", ":", ":", ": ", " :", "\t:");

const compact = fc.letrec<{ value: string; object: string; array: string }>((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, string, number, fc.constantFrom("true", "null"), { arbitrary: tie("object"), weight: 4 }, tie("array")),
  object: fc.array(fc.tuple(name, colon, tie("value")), { maxLength: 6 }).map((members) => `{${members.map(([k, c, v]) => `"${k}"${c}${v}`).join(",")}}`),
  array: fc.array(tie("value"), { maxLength: 4 }).map((items) => `[${items.join(",")}]`),
})).object;

describe("parseJson's member count", () => {
  it("keeps JSON.parse's value only when the exact reader gives the same, on compact text with repeated names", () => {
    fc.assert(
      fc.property(compact, (text) => {
        expect(outcome(parseJson, text, BIGINT), text).toBe(outcome(parseJsonExact, text, BIGINT));
      }),
      { numRuns: 5000 },
    );
  });

  it("refuses duplicates that strings starting with a colon would balance in a count", () => {
    for (const text of ['{"a":":","a":1}', '{"a":{"b":":"},"a":1}', '{"a":"\\":","a":1}', '[{"k":":","k":":"}]', '{"x\\\\":1,"x\\\\":2}']) {
      expect(outcome(parseJson, text, BIGINT), text).toBe(outcome(parseJsonExact, text, BIGINT));
      expect(outcome(parseJson, text, BIGINT)).toMatch(/^error ONEX_E_JSON_DUPLICATE_KEY/);
    }
  });
});
