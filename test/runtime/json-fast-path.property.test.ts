/**
 * parseJson tries JSON.parse first and keeps its result only when it means exactly what the
 * exact reader gives. These properties compare the two on arbitrary JSON-ish text: clean
 * JSON, duplicate names (also spelled with escapes), integers around 2^53, numbers beyond a
 * double, deep nesting and broken text. Value, error code, message, line and column must match.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_JSON_DEPTH, parseJson, parseJsonExact, type JsonParseOptions } from "../../runtime/json-text.js";
import { outcome } from "./json-outcome.js";


function expectSame(text: string): void {
  for (const options of [{}, { bigIntegers: "bigint" }, { file: "x.ndjson", firstLine: 7 }] as JsonParseOptions[]) {
    expect(outcome(parseJson, text, options), text).toBe(outcome(parseJsonExact, text, options));
  }
}

// Each of JSON's four whitespace characters alone as well: whitespace between a name and its colon must send the text to the exact reader.
const space = fc.constantFrom("", "", "", " ", "\n", "\t", "\r", "\r\n", " \n  ", " \r");
const key = fc.constantFrom("a", "b", "a:b", ":", "__proto__", "constructor", "0", "1", "\\u0061", "\\u003a", "a\\u003ab", "\\n", "\\\"", "é", "\\ud800");
const number = fc.oneof(
  fc.constantFrom("0", "-0", "1.0", "-1.5e3", "1e400", "-1e400", "1e-400", "1E+2", "9007199254740991", "-9007199254740991", "9007199254740992", "9007199254740993", "-9007199254740993", "18446744073709551616", "10000000000000000000", "9007199254740993.0", "1e16", "01", "1.", "-", ".5", "+1"),
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
  fc.bigInt({ min: -(1n << 80n), max: 1n << 80n }).map(String),
);
const string = fc.oneof(
  fc.constantFrom('"x"', '"a:b"', '"::"', '"\\u003a"', '"\\n"', '"\\x"', '"tab\there"', '"\\ud800"', '"\\/"', '"unterminated', '""'),
  fc.string().map((s) => JSON.stringify(s)),
);
const literal = fc.constantFrom("true", "false", "null", "nul", "True");

/** JSON-ish text whose member names come from `names` (few of them, so that names repeat). */
function jsonish(names: fc.Arbitrary<string>) {
  return fc.letrec<{ value: string; object: string; array: string; member: string }>((tie) => ({
    value: fc.oneof({ depthSize: "small", withCrossShrink: true }, number, string, literal, { arbitrary: tie("object"), weight: 4 }, tie("array")),
    member: fc.tuple(space, names, space, tie("value")).map(([s, k, t, v]) => `${s}"${k}"${t}:${s}${v}${t}`),
    object: fc.array(tie("member"), { maxLength: 5 }).map((members) => `{${members.join(",")}}`),
    array: fc.array(fc.tuple(space, tie("value")), { maxLength: 5 }).map((items) => `[${items.map(([s, v]) => s + v).join(",")}]`),
  })).value;
}
const value = jsonish(key);
/** No escapes in names: the fast path looks at these itself rather than handing them over for a "\u". */
const plainValue = jsonish(fc.constantFrom("a", "b", ":", "a:b", "__proto__"));

/** Breaks text in one place: a character dropped, one inserted, or the rest cut off. */
const broken = fc.tuple(value, fc.nat(), fc.constantFrom("drop", "insert", "cut"), fc.constantFrom("{", "}", "[", "]", ":", ",", '"', "\\", " ", "x", "1", "\u0000", "\ufeff")).map(([text, at, how, c]) => {
  const i = at % (text.length + 1);
  if (how === "drop") return text.slice(0, i) + text.slice(i + 1);
  if (how === "insert") return text.slice(0, i) + c + text.slice(i);
  return text.slice(0, i);
});

describe("parseJson's JSON.parse fast path agrees with the exact reader", () => {
  it("on arbitrary JSON-ish text, duplicates, escapes and numbers included", () => {
    fc.assert(fc.property(fc.tuple(space, value, space), ([a, text, b]) => expectSame(a + text + b)), { numRuns: 3000 });
  });

  it("on JSON-ish text without escapes in names, where names often repeat", () => {
    fc.assert(fc.property(plainValue, expectSame), { numRuns: 3000 });
  });

  it("on broken text", () => {
    fc.assert(fc.property(broken, expectSame), { numRuns: 2000 });
  });

  it("on any JSON text", () => {
    fc.assert(fc.property(fc.json(), expectSame), { numRuns: 1000 });
  });

  it("on nesting around the depth limit", () => {
    for (const depth of [MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 5 * MAX_JSON_DEPTH]) {
      expectSame("[".repeat(depth) + "]".repeat(depth));
      expectSame('{"a":'.repeat(depth) + "1" + "}".repeat(depth));
      expectSame('{"a":'.repeat(depth - 1) + '{"k":1,"k":2}' + "}".repeat(depth - 1));
    }
  });

  it("on the cases the fast path must hand over", () => {
    for (const text of [
      '{"a":1,"a":2}',
      '{"a":"x:y","b":{"c":1},"a":1}',
      '{"a":"\\u003a","a":1}',
      '{"a:":1,"a:":1}',
      '[{"k":[1,{"k":2}],"k":3}]',
      '{"__proto__":1,"__proto__":2}',
      '{"__proto__":{"polluted":true}}',
      '{"n":9007199254740993}',
      '{"n":10000000000000000000}',
      "1e400",
      "-9007199254740992",
      '"\\u0000"',
      ...[" ", "\t", "\n", "\r"].map((space) => `{"to":"alice","to"${space}:"mallory"}`),
    ]) {
      expectSame(text);
    }
  });

  it("reads -0 as 0, as canonical JSON writes it: a signed 0 rewritten -0 must not reach a handler as -0", () => {
    for (const parse of [parseJson, parseJsonExact]) {
      expect(outcome(parse, '{"a":-0,"b":[-0.0,-0e5,-0.5],"c":{"d":-0E-3}}', {})).toBe('value {"a":0,"b":[0,0,-0.5],"c":{"d":0}}');
      expect(outcome(parse, "-0", {})).toBe("value 0");
    }
  });

  it("refuses a duplicate even when something has polluted Object.prototype", () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.polluted = 1;
    try {
      expectSame('{"a":1,"a":2}');
      expectSame('{"x":{"a":1,"a":2}}');
    } finally {
      delete proto.polluted;
    }
  });

  it("makes every member an own property, as JSON.parse does, even past a setter defined on Object.prototype", () => {
    let swallowed = 0;
    Object.defineProperty(Object.prototype, "swallowed", { set: () => void swallowed++, configurable: true });
    try {
      // A \u escape and an integer beyond 2^53 each send the text to the exact reader.
      for (const text of ['{"swallowed":"\\u0041","n":1}', '{"swallowed":1,"n":9007199254740993}', '{"toString":1,"constructor":{"swallowed":2}}']) {
        expectSame(text);
        const value = parseJson(text, { bigIntegers: "bigint" }) as Record<string, unknown>;
        expect(Object.keys(value)).toEqual(Object.keys(JSON.parse(text) as object));
      }
      expect(swallowed).toBe(0);
    } finally {
      delete (Object.prototype as Record<string, unknown>).swallowed;
    }
  });

  it("leaves a long text to the exact reader, which stops a nesting bomb at the depth limit", () => {
    const bomb = "[".repeat(200_000) + "]".repeat(200_000);
    expectSame(bomb);
    expect(() => parseJson(bomb)).toThrow(expect.objectContaining({ code: "ONEX_E_JSON_SYNTAX" }));
    const long = JSON.stringify({ items: Array.from({ length: 5_000 }, (_, i) => ({ id: `item-${i}`, at: "2026-01-01T00:00:00Z" })) });
    expect(long.length).toBeGreaterThan(64 * 1024);
    expectSame(long);
  });

  it("would notice a fast path that kept JSON.parse's result for a duplicate", () => {
    // The comparison itself can fail: JSON.parse keeps the last duplicate, the exact reader refuses it.
    const text = '{"a":1,"a":2}';
    expect(outcome((t) => JSON.parse(t), text, {})).not.toBe(outcome(parseJsonExact, text, {}));
  });
});
